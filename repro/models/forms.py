"""The cells and attention forms a model may have, by the names configs give them: one torch-free table
that the model config, the ablations and the model itself read (``repro.models.seq2seq`` and
``repro.models.attention`` turn a name into its torch class).

A new cell that torch has is one entry of ``CELLS``. A new attention form is its class in
``repro.models.attention`` and one entry of ``ATTENTIONS`` naming it (plus an entry of
``ABLATION_ATTENTION_FORMS`` if the attention ablation may train it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """A value of ``model.cell``: the ``torch.nn`` recurrent layer that implements it, and its gates (weight
    blocks per layer: what its parameter count scales with, ``repro.experiments.recurrent_parameter_count``)."""

    class_name: str
    gates: int


CELLS: dict[str, Cell] = {"lstm": Cell("LSTM", 4), "gru": Cell("GRU", 3), "rnn": Cell("RNN", 1)}


@dataclass(frozen=True)
class AttentionForm:
    """A value of ``model.attention``: the class of ``repro.models.attention`` that computes it (None: the
    decoder reads only the fixed-size context vector) and whether ``model.input_feeding`` (Luong et al.
    2015, §3.3: the previous attentional vector fed into the next step) may be combined with it."""

    class_name: str | None
    input_feeding: bool = False


ATTENTIONS: dict[str, AttentionForm] = {
    "none": AttentionForm(None),
    "luong": AttentionForm("LuongAttention", input_feeding=True),
    # Bahdanau's form already feeds its context c_t into the recurrence: nothing more to feed.
    "bahdanau": AttentionForm("BahdanauAttention"),
}


@dataclass(frozen=True)
class AblationAttentionForm:
    """A decoder the attention ablation can train (``ablations.attention_form``): its table label and the
    model settings that make it."""

    label: str
    attention: str  # a key of ATTENTIONS
    input_feeding: bool = False

    @property
    def settings(self) -> dict[str, object]:
        return {"model.attention": self.attention, "model.input_feeding": self.input_feeding}


# An experiment names the strongest on its own validation data (the demo: Bahdanau's, README); the
# default, for experiments not yet measured, is Luong et al.'s (2015) full model with input feeding, for
# which they report +1.3 BLEU over the same decoder without it.
ABLATION_ATTENTION_FORMS: dict[str, AblationAttentionForm] = {
    "luong": AblationAttentionForm("global attention (Luong, no input feeding)", "luong"),
    "luong-input-feeding": AblationAttentionForm("global attention (Luong, input feeding)", "luong",
                                                 input_feeding=True),
    "bahdanau": AblationAttentionForm("additive attention (Bahdanau)", "bahdanau"),
}
DEFAULT_ABLATION_ATTENTION_FORM = "luong-input-feeding"
