"""The attention forms: every name of the torch-free table has its class, weights ignore padding, Bahdanau's
keys are computed once, the init order is the one seeds were drawn in, and old checkpoints still load."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from repro.errors import ConfigError
from repro.models.attention import Attention, BahdanauAttention, LuongAttention, attention_class
from repro.models.config import ModelConfig
from repro.models.forms import ATTENTIONS, AttentionForm
from repro.models.seq2seq import Seq2Seq

SRC = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12], [13, 4, 0, 0, 0]])
SRC_LEN = torch.tensor([3, 5, 2])
TGT_IN = torch.tensor([[2, 5, 6, 7], [2, 8, 9, 0], [2, 10, 0, 0]])
FORMS = [("luong", False), ("luong", True), ("bahdanau", False)]


def tiny(attention: str, input_feeding: bool = False, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(ModelConfig(src_vocab_size=23, tgt_vocab_size=19, embedding_size=8, hidden_size=12,
                               num_layers=2, attention=attention, input_feeding=input_feeding)).eval()


def memory_and_mask() -> tuple[Tensor, Tensor]:
    torch.manual_seed(1)
    memory = torch.randn(3, 5, 12)
    return memory, torch.arange(5).unsqueeze(0) < SRC_LEN.unsqueeze(1)


def test_every_form_of_the_table_has_its_class_and_every_class_a_form():
    classes = {name: attention_class(name) for name in ATTENTIONS}
    assert classes["none"] is None and all(cls is not None for name, cls in classes.items() if name != "none")
    assert {cls for cls in classes.values() if cls} == {LuongAttention, BahdanauAttention}


@pytest.mark.parametrize("name", ATTENTIONS)
def test_config_allows_input_feeding_exactly_where_the_table_says(name):
    if ATTENTIONS[name].input_feeding:
        assert tiny(name, input_feeding=True).config.input_feeding
    else:
        with pytest.raises(ConfigError, match="input_feeding needs model.attention 'luong'"):
            ModelConfig(src_vocab_size=10, tgt_vocab_size=10, attention=name, input_feeding=True)


def test_registry_lookup():
    assert attention_class("none") is None
    assert attention_class("luong") is LuongAttention and attention_class("bahdanau") is BahdanauAttention
    with pytest.raises(ConfigError, match="model.attention must be one of none, luong, bahdanau, got 'dot'"):
        attention_class("dot")


@pytest.mark.parametrize("cls", [LuongAttention, BahdanauAttention])
def test_weights_sum_to_one_and_padding_is_ignored(cls):
    torch.manual_seed(0)
    layer = cls(12)
    memory, mask = memory_and_mask()
    query = torch.randn(3, 12) if cls.feeds_context else torch.randn(3, 4, 12)
    context, weights = layer(query, memory, mask, layer.precompute_keys(memory))
    steps = 1 if cls.feeds_context else 4
    assert context.shape == (3, steps, 12) and weights.shape == (3, steps, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, steps))
    assert torch.all(weights.masked_select(~mask.unsqueeze(1)) == 0)
    assert torch.all(weights.masked_select(mask.unsqueeze(1)) > 0)
    # Garbage at the padded positions changes nothing.
    noisy = memory.masked_fill(~mask.unsqueeze(-1), 1e4)
    noisy_context, noisy_weights = layer(query, noisy, mask, layer.precompute_keys(noisy))
    assert torch.equal(noisy_weights, weights) and torch.equal(noisy_context, context)


def test_luong_context_is_the_softmax_of_the_general_score():
    torch.manual_seed(0)
    layer = LuongAttention(12)
    memory, mask = memory_and_mask()
    query = torch.randn(3, 4, 12)
    context, weights = layer(query, memory, mask)
    for b, length in enumerate(SRC_LEN.tolist()):
        scores = query[b] @ layer.score.weight.T @ memory[b, :length].T  # (W_a h_t)^T h_j, W_a as nn.Linear holds it
        torch.testing.assert_close(weights[b, :, :length], torch.softmax(scores, -1))
        torch.testing.assert_close(context[b], torch.softmax(scores, -1) @ memory[b, :length])


def test_bahdanau_keys_are_computed_once_per_source():
    model = tiny("bahdanau")
    calls = []
    model.attention.key.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    with torch.no_grad():
        state = model.init_decoder_state(model.encode(SRC, SRC_LEN))
        for t in range(TGT_IN.size(1)):
            _, state = model.decode_step(TGT_IN[:, t], state)
        model(SRC, SRC_LEN, TGT_IN)
    assert calls == [(3, 5, 12), (3, 5, 12)]  # one per encoded batch, not one per step
    assert LuongAttention(12).precompute_keys(torch.zeros(3, 5, 12)) is None


@pytest.mark.parametrize("attention,layers", [
    ("none", []), ("luong", ["score", "combine"]), ("bahdanau", ["query", "key", "v", "combine"])])
def test_parameters_keep_the_order_the_uniform_init_draws_in(attention, layers):
    # A seed's weights depend on this order, so runs made before the forms were modules reproduce.
    names = [name.rsplit(".", 1)[0] for name, _ in tiny(attention).named_parameters()]
    modules = list(dict.fromkeys(names))
    assert modules == ["src_embedding", "tgt_embedding", "encoder", "decoder",
                       *(f"attention.{layer}" for layer in layers), "output"]


def _old_names(state_dict: dict[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """The state dict as written before the forms were modules: ``attention.score.weight`` was
    ``attention_score.weight``."""
    old = prefix + "attention."
    return {(prefix + "attention_" + k[len(old):] if k.startswith(old) else k): v for k, v in state_dict.items()}


@pytest.mark.parametrize("attention,input_feeding", FORMS)
def test_a_state_dict_with_the_old_names_loads_and_decodes_the_same(attention, input_feeding):
    model = tiny(attention, input_feeding)
    old = _old_names(model.state_dict())
    assert "attention_combine.weight" in old and not any(k.startswith("attention.") for k in old)
    fresh = tiny(attention, input_feeding, seed=1)
    with torch.no_grad():
        assert not torch.equal(fresh(SRC, SRC_LEN, TGT_IN), model(SRC, SRC_LEN, TGT_IN))
        fresh.load_state_dict(old)
        assert torch.equal(fresh(SRC, SRC_LEN, TGT_IN), model(SRC, SRC_LEN, TGT_IN))
    # The renaming is relative to where the model sits (wrapped: DDP's "module.", compile's "_orig_mod.").
    wrapped, source = nn.ModuleDict({"inner": tiny(attention, input_feeding, seed=2)}), nn.ModuleDict({"inner": model})
    wrapped.load_state_dict(_old_names(source.state_dict(), prefix="inner."))
    for loaded, original in zip(wrapped.state_dict().values(), source.state_dict().values(), strict=True):
        assert torch.equal(loaded, original)


def test_unknown_attention_keys_are_still_rejected():
    model = tiny("luong")
    state = {**model.state_dict(), "attention_bogus.weight": torch.zeros(1)}
    with pytest.raises(RuntimeError, match="attention.bogus.weight"):
        model.load_state_dict(state)


class DotAttention(Attention):
    """Luong's "dot" score h_t^T h_j: a form the model has never heard of, with only a combine layer."""

    feeds_context = False

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)

    def energies(self, query: Tensor, memory: Tensor, keys: Tensor | None) -> Tensor:
        return torch.bmm(query.float(), memory.transpose(1, 2))


@pytest.mark.parametrize("input_feeding", [False, True])
def test_a_form_added_to_the_table_needs_no_change_to_the_model(monkeypatch, input_feeding):
    monkeypatch.setitem(ATTENTIONS, "dot", AttentionForm("DotAttention", input_feeding=True))
    assert attention_class("dot") is DotAttention
    model = tiny("dot", input_feeding)
    assert isinstance(model.attention, DotAttention)
    with torch.no_grad():
        logits = model(SRC, SRC_LEN, TGT_IN)
        state = model.init_decoder_state(model.encode(SRC, SRC_LEN))
        for t in range(TGT_IN.size(1)):
            log_probs, state = model.decode_step(TGT_IN[:, t], state)
            torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], dim=-1))
