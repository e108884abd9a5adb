"""The special tokens and their ids, defined once (every vocabulary starts with them, in this order)."""

PAD, UNK, SOS, EOS = "<pad>", "<unk>", "<sos>", "<eos>"
SPECIALS = (PAD, UNK, SOS, EOS)
PAD_ID, UNK_ID, SOS_ID, EOS_ID = range(len(SPECIALS))
