"""The encoder–decoder: the paper's sizes, reversal in one place, packing, step == teacher-forced."""

from __future__ import annotations

import pytest
import torch

from repro.errors import ConfigError
from repro.models.seq2seq import ModelConfig, Seq2Seq, reverse_padded


def tiny(cell: str = "lstm", attention: str = "none", reverse: bool = True, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    config = ModelConfig(src_vocab_size=23, tgt_vocab_size=19, embedding_size=8, hidden_size=12, num_layers=2,
                         cell=cell, attention=attention, reverse_source=reverse)
    return Seq2Seq(config).eval()


BATCH_SRC = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12], [13, 4, 0, 0, 0]])
BATCH_LEN = torch.tensor([3, 5, 2])
BATCH_TGT = torch.tensor([[2, 5, 6, 7], [2, 8, 9, 0], [2, 10, 0, 0]])


def test_paper_configuration_has_384m_parameters_64m_recurrent():
    with torch.device("meta"):
        model = Seq2Seq(ModelConfig(src_vocab_size=160_000, tgt_vocab_size=80_000))
    total = sum(p.numel() for p in model.parameters())
    assert round(total / 1e6) == 384
    assert round(model.recurrent_parameters() / 1e6) == 64
    # 32M in each of the two LSTMs, as §3.2 says
    assert round(sum(p.numel() for p in model.encoder.parameters()) / 1e6) == 32


def test_parameters_start_uniform_in_init_range():
    model = tiny()
    for name, param in model.named_parameters():
        assert param.abs().max() <= 0.08, name
    assert model.src_embedding.weight[0].abs().sum() == 0  # <pad> embeds to zero


def test_reverse_padded_reverses_only_the_real_tokens():
    out = reverse_padded(BATCH_SRC, BATCH_LEN)
    assert out.tolist() == [[7, 6, 5, 0, 0], [12, 11, 10, 9, 8], [4, 13, 0, 0, 0]]


def test_reversal_happens_inside_encode():
    reversed_model = tiny(reverse=True)
    forward_model = tiny(reverse=False)  # same seed: identical weights
    by_switch = reversed_model.context_vector(reversed_model.encode(BATCH_SRC, BATCH_LEN))
    by_hand = forward_model.context_vector(forward_model.encode(reverse_padded(BATCH_SRC, BATCH_LEN), BATCH_LEN))
    natural = forward_model.context_vector(forward_model.encode(BATCH_SRC, BATCH_LEN))
    torch.testing.assert_close(by_switch, by_hand)
    assert not torch.allclose(by_switch, natural)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_padding_never_leaks_into_the_context_vector(cell):
    model = tiny(cell)
    batched = model.context_vector(model.encode(BATCH_SRC, BATCH_LEN))
    for row in range(3):
        length = int(BATCH_LEN[row])
        alone = model.context_vector(model.encode(BATCH_SRC[row : row + 1, :length], BATCH_LEN[row : row + 1]))
        torch.testing.assert_close(batched[row : row + 1], alone)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_unpadded_batches_skip_packing_with_identical_results(cell):
    model = tiny(cell, "luong")
    equal = torch.tensor([[5, 6, 7], [8, 9, 10]])
    fast = model.encode(equal, torch.tensor([3, 3]))  # no padding: the unpacked path
    padded = torch.tensor([[5, 6, 7, 0], [8, 9, 10, 0], [4, 4, 4, 4]])
    slow = model.encode(padded, torch.tensor([3, 3, 4]))  # padding: the packed path
    torch.testing.assert_close(model.context_vector(fast), model.context_vector(slow)[:2])
    torch.testing.assert_close(fast.memory, slow.memory[:2, :3])


@pytest.mark.parametrize("cell,attention", [("lstm", "none"), ("gru", "none"), ("rnn", "none"), ("lstm", "luong")])
def test_step_by_step_decoding_equals_teacher_forced_forward(cell, attention):
    model = tiny(cell, attention)
    with torch.no_grad():
        logits = model(BATCH_SRC, BATCH_LEN, BATCH_TGT)
        state = model.init_decoder_state(model.encode(BATCH_SRC, BATCH_LEN))
        for t in range(BATCH_TGT.size(1)):
            log_probs, state = model.decode_step(BATCH_TGT[:, t], state)
            torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], dim=-1))


def test_context_vector_holds_every_layer_state():
    model = tiny("lstm")
    vec = model.context_vector(model.encode(BATCH_SRC, BATCH_LEN))
    assert vec.shape == (3, 2 * 2 * 12)  # (h, c) × 2 layers × hidden 12
    gru = tiny("gru")
    assert gru.context_vector(gru.encode(BATCH_SRC, BATCH_LEN)).shape == (3, 2 * 12)


def test_teacher_forcing_ratio_zero_feeds_back_own_argmax():
    model = tiny()
    with torch.no_grad():
        free = model(BATCH_SRC, BATCH_LEN, BATCH_TGT, teacher_forcing_ratio=0.0)
        state = model.init_decoder_state(model.encode(BATCH_SRC, BATCH_LEN))
        tokens = BATCH_TGT[:, 0]
        for t in range(BATCH_TGT.size(1)):
            log_probs, state = model.decode_step(tokens, state)
            torch.testing.assert_close(torch.log_softmax(free[:, t], -1), log_probs)
            tokens = log_probs.argmax(-1)
        forced = model(BATCH_SRC, BATCH_LEN, BATCH_TGT, teacher_forcing_ratio=1.0)
    assert not torch.allclose(free[:, 2:], forced[:, 2:])


def test_reorder_state_selects_rows():
    model = tiny("lstm", "luong")
    state = model.init_decoder_state(model.encode(BATCH_SRC, BATCH_LEN))
    picked = model.reorder_state(state, torch.tensor([2, 2, 0]))
    torch.testing.assert_close(picked.rnn[0][:, 0], state.rnn[0][:, 2])
    torch.testing.assert_close(picked.memory[2], state.memory[0])
    assert picked.mask.tolist()[1] == state.mask.tolist()[2]


@pytest.mark.parametrize("bad", [{"cell": "transformer"}, {"attention": "bahdanau"}, {"num_layers": 0},
                                 {"dropout": 1.0}])
def test_invalid_config_is_rejected(bad):
    with pytest.raises(ConfigError):
        ModelConfig(src_vocab_size=10, tgt_vocab_size=10, **bad)


def test_forget_bias_sets_the_lstm_forget_gate_exactly():
    config = ModelConfig(src_vocab_size=12, tgt_vocab_size=12, embedding_size=4, hidden_size=5, num_layers=2,
                         forget_bias=1.0)
    model = Seq2Seq(config)
    for rnn in (model.encoder, model.decoder):
        for layer in range(2):
            ih, hh = getattr(rnn, f"bias_ih_l{layer}"), getattr(rnn, f"bias_hh_l{layer}")
            assert torch.equal((ih + hh)[5:10], torch.ones(5))  # gate order: input, forget, cell, output
            assert ih[:5].abs().max() <= 0.08 and ih[10:].abs().max() <= 0.08
    default = Seq2Seq(ModelConfig(src_vocab_size=12, tgt_vocab_size=12, embedding_size=4, hidden_size=5))
    assert default.encoder.bias_ih_l0[5:10].abs().max() <= 0.08  # off by default: the paper's init
    with pytest.raises(ConfigError, match="forget_bias applies to LSTM"):
        ModelConfig(src_vocab_size=12, tgt_vocab_size=12, cell="gru", forget_bias=1.0)


@pytest.mark.parametrize("attention", ["none", "luong"])
def test_forward_on_selected_positions_equals_the_full_forward(attention):
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(src_vocab_size=15, tgt_vocab_size=13, embedding_size=6, hidden_size=7,
                                num_layers=2, attention=attention)).eval()
    src = torch.randint(4, 15, (3, 5))
    tgt_in = torch.randint(4, 13, (3, 4))
    lengths = torch.tensor([5, 2, 4])
    positions = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    full = model(src, lengths, tgt_in)
    assert torch.allclose(model(src, lengths, tgt_in, positions=positions), full[positions], atol=1e-6)
