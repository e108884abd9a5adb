"""The encoder–decoder: the paper's sizes, reversal in one place, packing, step == teacher-forced."""

from __future__ import annotations

import pytest
import torch

from repro.errors import ConfigError
from repro.models.forms import ATTENTIONS
from repro.models.seq2seq import ModelConfig, Seq2Seq, reverse_padded


def tiny(cell: str = "lstm", attention: str = "none", reverse: bool = True, seed: int = 0,
         input_feeding: bool = False) -> Seq2Seq:
    torch.manual_seed(seed)
    config = ModelConfig(src_vocab_size=23, tgt_vocab_size=19, embedding_size=8, hidden_size=12, num_layers=2,
                         cell=cell, attention=attention, reverse_source=reverse, input_feeding=input_feeding)
    return Seq2Seq(config).eval()


# Every attention form: (attention, input_feeding).
# every form of the table, with input feeding where it takes it ("none" first)
ATTENTION_FORMS = [(name, False) for name in ATTENTIONS] + [(name, True) for name, form in ATTENTIONS.items()
                                                             if form.input_feeding]


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


@pytest.mark.parametrize("cell,attention,input_feeding", [
    ("lstm", "none", False), ("gru", "none", False), ("rnn", "none", False), ("lstm", "luong", False),
    ("lstm", "luong", True), ("gru", "luong", True), ("lstm", "bahdanau", False), ("gru", "bahdanau", False),
    ("rnn", "bahdanau", False)])
def test_step_by_step_decoding_equals_teacher_forced_forward(cell, attention, input_feeding):
    model = tiny(cell, attention, input_feeding=input_feeding)
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


@pytest.mark.parametrize("attention,input_feeding", ATTENTION_FORMS)
def test_teacher_forcing_ratio_zero_feeds_back_own_argmax(attention, input_feeding):
    model = tiny(attention=attention, input_feeding=input_feeding)
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


@pytest.mark.parametrize("attention,input_feeding", [("luong", True), ("bahdanau", False)])
def test_reorder_state_selects_keys_and_fed_vectors(attention, input_feeding):
    model = tiny("lstm", attention, input_feeding=input_feeding)
    with torch.no_grad():
        state = model.init_decoder_state(model.encode(BATCH_SRC, BATCH_LEN))
        _, state = model.decode_step(BATCH_TGT[:, 0], state)
        picked = model.reorder_state(state, torch.tensor([2, 2, 0]))
        if input_feeding:  # h~_{t-1} belongs to the hypothesis: it follows the index
            assert state.feed.abs().sum() > 0
            torch.testing.assert_close(picked.feed, state.feed[[2, 2, 0]])
        else:  # the keys U h_j belong to the source, like the memory
            torch.testing.assert_close(picked.keys, state.keys[[2, 2, 0]])
            same_rows = model.reorder_state(picked, torch.tensor([1, 0, 2]))  # rows stay on their sources
            assert same_rows.keys is picked.keys
        # The reordered state decodes as the selected rows would have.
        lp_picked, _ = model.decode_step(BATCH_TGT[[2, 2, 0], 1], picked)
        lp_all, _ = model.decode_step(BATCH_TGT[:, 1], state)
        torch.testing.assert_close(lp_picked, lp_all[[2, 2, 0]])


@pytest.mark.parametrize("bad", [{"cell": "transformer"}, {"attention": "dot"}, {"num_layers": 0},
                                 {"dropout": 1.0}, {"input_feeding": True},
                                 {"attention": "bahdanau", "input_feeding": True}])
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


@pytest.mark.parametrize("attention,input_feeding", ATTENTION_FORMS)
def test_forward_on_selected_positions_equals_the_full_forward(attention, input_feeding):
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(src_vocab_size=15, tgt_vocab_size=13, embedding_size=6, hidden_size=7,
                                num_layers=2, attention=attention, input_feeding=input_feeding)).eval()
    src = torch.randint(4, 15, (3, 5))
    tgt_in = torch.randint(4, 13, (3, 4))
    lengths = torch.tensor([5, 2, 4])
    positions = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    full = model(src, lengths, tgt_in)
    assert torch.allclose(model(src, lengths, tgt_in, positions=positions), full[positions], atol=1e-6)
    # vectors=True: what the output layer reads, so the output layer on them gives the logits.
    vectors = model(src, lengths, tgt_in, positions=positions, vectors=True)
    assert vectors.shape == (int(positions.sum()), 7)
    torch.testing.assert_close(model.output(vectors), full[positions])


@pytest.mark.native_bf16  # elsewhere oneDNN has no bf16 LSTM kernel: repro.device.autocast runs fp32 there
@pytest.mark.parametrize("attention,input_feeding", ATTENTION_FORMS)
def test_cpu_bf16_autocast_runs_every_attention_form(attention, input_feeding):
    model = tiny(attention=attention, input_feeding=input_feeding)
    with torch.no_grad():
        fp32 = torch.log_softmax(model(BATCH_SRC, BATCH_LEN, BATCH_TGT), dim=-1)
        with torch.autocast("cpu", torch.bfloat16):
            bf16 = model(BATCH_SRC, BATCH_LEN, BATCH_TGT)
            state = model.init_decoder_state(model.encode(BATCH_SRC, BATCH_LEN))
            log_probs, _ = model.decode_step(BATCH_TGT[:, 0], state)
    torch.testing.assert_close(torch.log_softmax(bf16.float(), dim=-1), fp32, atol=0.05, rtol=0)
    torch.testing.assert_close(log_probs, fp32[:, 0], atol=0.05, rtol=0)


@pytest.mark.parametrize("attention,input_feeding,extra_inputs", [
    ("none", False, 0), ("luong", False, 0), ("luong", True, 12), ("bahdanau", False, 12)])
def test_decoder_input_size_grows_by_the_fed_vector(attention, input_feeding, extra_inputs):
    # Input feeding adds h~_{t-1}, Bahdanau adds c_t (both hidden_size) to the decoder RNN's input.
    model = tiny(attention=attention, input_feeding=input_feeding)
    assert model.decoder.input_size == 8 + extra_inputs
    assert model.decoder.weight_ih_l0.shape == (4 * 12, 8 + extra_inputs)
    plain = tiny(attention=attention)
    assert model.recurrent_parameters() - plain.recurrent_parameters() == (4 * 12 * 12 if input_feeding else 0)


def test_checkpoint_without_input_feeding_loads_as_before():
    # Checkpoints written before input feeding existed have no such key in their model config.
    from repro.train.checkpoint import model_from_checkpoint

    model = tiny(attention="luong")
    config = model.config.to_dict()
    del config["input_feeding"]
    loaded = model_from_checkpoint({"model_config": config, "model": model.state_dict()}).eval()
    assert not loaded.config.input_feeding
    with torch.no_grad():
        torch.testing.assert_close(loaded(BATCH_SRC, BATCH_LEN, BATCH_TGT), model(BATCH_SRC, BATCH_LEN, BATCH_TGT),
                                   atol=0, rtol=0)


def _memory_gradient(attention: str, bf16: bool) -> torch.Tensor:
    """The gradient that reaches the encoder's outputs from a loss on one attention step, with two source
    positions whose scores (about 5,600) are 4 apart: fp32 weighs them 0.02 / 0.98, bf16 (steps of 32
    there) makes them a tie."""
    from repro.models.seq2seq import DecoderState, top_hidden

    model = tiny(attention=attention)
    hidden = model.config.hidden_size
    memory = torch.zeros(1, 2, hidden)
    memory[0, :, 0] = 1.0
    layers = model.attention
    with torch.no_grad():
        for module in (layers.combine, layers.score if attention == "luong" else layers.v):
            module.weight.zero_()
        layers.combine.weight[:, :hidden] = torch.eye(hidden)  # h~ = tanh(c_t): the weights show
        if attention == "luong":
            layers.score.weight[0, 0], layers.score.weight[1, 1] = 1000.0, 1000.0
        else:
            layers.query.weight.zero_()
            layers.v.weight[0, 1] = 8000.0
    memory[0, :, 1] = torch.tensor([2.5, 2.515625])  # bf16-exact inputs; Luong: scores 5625 and 5628.9
    memory.requires_grad_(True)
    outputs = torch.zeros(1, 1, hidden)
    outputs[0, 0, 0], outputs[0, 0, 1] = 5.0, 0.25
    keys = torch.zeros(1, 2, hidden)
    keys[0, :, 1] = torch.tensor([0.8673, 0.8680])  # Bahdanau: scores 8000 tanh(k) = 5600.2 and 5603.6
    mask = torch.ones(1, 2, dtype=torch.bool)
    state = DecoderState(rnn=torch.zeros(2, 1, hidden), memory=memory, mask=mask, keys=keys)
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        if attention == "luong":
            attended = model._attend(outputs, state)
        else:  # the query s_{t-1} is the (zero) top layer of state.rnn
            context, _ = layers(top_hidden(state.rnn), memory, mask, keys)
            attended = layers.attentional_vector(context, outputs)
    torch.manual_seed(0)
    (attended.float() * torch.randn(attended.shape)).sum().backward()
    return memory.grad


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_cpu_bf16_attention_gradients_follow_fp32_when_scores_are_large(attention):
    # A trained Luong model's scores reach thousands (Multi30k: median 6,000). Scored in bf16, near-equal
    # scores there become ties, and the gradient reaching the encoder is wrong.
    fp32, bf16 = _memory_gradient(attention, False), _memory_gradient(attention, True)
    assert ((bf16 - fp32).norm() / fp32.norm()).item() < 0.02  # scored in bf16: 0.69
