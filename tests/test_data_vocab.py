from collections import Counter

import pytest

from repro.data.vocab import EOS_ID, PAD_ID, SOS_ID, SPECIALS, UNK_ID, Vocab, average_frequency_rank
from repro.errors import DataError


def test_build_keeps_k_most_frequent_and_maps_rest_to_unk():
    counter = Counter({"a": 5, "b": 3, "c": 3, "d": 1})
    vocab = Vocab.build(counter, 2)
    assert vocab.itos[:4] == list(SPECIALS)
    assert vocab.itos[4:] == ["a", "b"]  # tie b/c broken by the word
    assert vocab.encode(["a", "c", "d", "b"]) == [4, UNK_ID, UNK_ID, 5]
    assert vocab.frequency_rank(4) == 1 and vocab.frequency_rank(UNK_ID) == 3


def test_decode_stops_at_eos_and_skips_pad_sos():
    vocab = Vocab(["x", "y"])
    assert vocab.decode([SOS_ID, 4, PAD_ID, UNK_ID, 5, EOS_ID, 4]) == ["x", "<unk>", "y"]


def test_save_load_round_trip_with_counts(tmp_path):
    vocab = Vocab.build(Counter({"é": 4, "z": 2}), 10)
    vocab.save(tmp_path / "vocab.src.txt")
    loaded = Vocab.load(tmp_path / "vocab.src.txt")
    assert loaded.itos == vocab.itos and loaded.counts == [4, 2]


def test_load_rejects_bad_vocab_file(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("<pad>\n<unk>\n<sos>\n<eos>\na b\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"v.txt, line 5"):
        Vocab.load(path)


def test_average_frequency_rank_is_the_mean_rank_of_a_sentence_s_words():
    ranks = average_frequency_rank([[4, 5], [1], []], lambda i: {4: 1, 5: 3, 1: 100}[i])
    assert ranks.tolist() == [2.0, 100.0, 0.0]
