"""The decoder's attention forms, one class each, and the registry that maps ``model.attention`` to them.

For the bottleneck ablation the decoder may attend over the encoder's top-layer outputs h_j (the
"memory"; the encoder stays the paper's unidirectional deep RNN, not Bahdanau's bidirectional one).
``model.attention: none`` has no class: the decoder reads only the fixed-size context vector.

* :class:`LuongAttention` (``luong``): Luong, Pham & Manning (2015) global attention, "general" score.
  After the RNN step, c_t = sum_j softmax_j(h_t^T W_a h_j) h_j and the output layer reads
  h~_t = tanh(W_c [c_t; h_t]). Without input feeding the teacher-forced decoder is one fused RNN call over
  the whole target. ``input_feeding=True`` (their §3.3) concatenates h~_{t-1} (zeros at t = 1) to the
  embedding of the step's input token, so the RNN reads embedding_size + hidden_size inputs and has to
  run step by step. As in OpenNMT-py and fairseq, the vector fed back is the one the output layer reads
  (after dropout).
* :class:`BahdanauAttention` (``bahdanau``): Bahdanau, Cho & Bengio (2015) additive attention. Before
  the RNN step, scores v^T tanh(W s_{t-1} + U h_j) are computed from the previous top-layer state s_{t-1}
  (at t = 1 the encoder's final top-layer state, which initialises the decoder), and c_t is fed into the
  recurrence: the RNN reads [emb(y_{t-1}); c_t]. The output layer reads the deep output
  tanh(W_o [c_t; s_t]), the same form as Luong's h~_t, in place of the paper's maxout layer (which also
  read emb(y_{t-1})). The keys U h_j are computed once per source. It runs step by step; it has no input
  feeding (c_t already is fed).

Adding a form: a subclass here, and its name in the torch-free table ``repro.models.forms.ATTENTIONS``
(with whether it takes input feeding), which names the class.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from repro.errors import ConfigError
from repro.models.forms import ATTENTIONS


def full_precision(like: Tensor) -> torch.autocast:
    """Autocast off on ``like``'s device: attention scores, weights and context run in fp32 under bf16 autocast.

    A trained Luong model's scores reach thousands (median |score| 6,000 on Multi30k), where bf16 keeps
    steps of 32, and CPU autocast, unlike CUDA's, also leaves the softmax in bf16: the attention then
    collapses to one-hot and its gradients come out wrong (the encoder's off by 5 times their norm), so
    attention models trained on a CPU in bf16 learned far slower than the same models on a GPU.
    """
    return torch.autocast(device_type=like.device.type, enabled=False)


class Attention(nn.Module, ABC):
    """One attention form: its score layers, then ``combine`` (W_c / W_o, [c_t; h_t] -> the output vector).

    Subclasses register their layers in ``__init__`` in a fixed order, ``combine`` last: the uniform
    init draws over the model's parameters in registration order, so the order fixes a seed's weights.
    """

    # True: c_t is computed before the RNN step from s_{t-1} and fed into the RNN's input (so the decoder
    # reads hidden_size more inputs and runs step by step); False: computed after it, from h_t.
    feeds_context: ClassVar[bool]
    combine: nn.Linear

    @abstractmethod
    def energies(self, query: Tensor, memory: Tensor, keys: Tensor | None) -> Tensor:
        """Unnormalised scores [B, T, S] of the query against every source position; called with autocast
        off and ``memory`` in fp32, so scores that reach thousands keep their small differences."""

    def precompute_keys(self, memory: Tensor) -> Tensor | None:
        """What the form derives from the memory alone, once per source (and kept by beam search's reorder)."""
        return None

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor, keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The context c_t [B, T, H] and the weights [B, T, S] (zero at padding), both fp32.

        ``query``: the RNN's top-layer outputs h_t [B, T, H] (after the step), or, where
        ``feeds_context``, the previous top-layer state s_{t-1} [B, H] (T = 1). ``mask`` [B, S]: True at
        real source positions. ``keys``: what :meth:`precompute_keys` returned for this memory.
        """
        with full_precision(query):
            memory = memory.float()
            scores = self.energies(query, memory, keys)
            weights = torch.softmax(scores.masked_fill(~mask.unsqueeze(1), -math.inf), dim=-1)
            return torch.bmm(weights, memory), weights

    def attentional_vector(self, context: Tensor, outputs: Tensor) -> Tensor:
        """tanh(W [c_t; h_t]): Luong's attentional vector h~_t, or Bahdanau's deep output (under autocast, if on)."""
        return torch.tanh(self.combine(torch.cat([context, outputs], dim=-1)))


class LuongAttention(Attention):
    """Luong et al. (2015) global attention with the "general" score h_t^T W_a h_j, after the RNN step."""

    feeds_context = False

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.score = nn.Linear(hidden_size, hidden_size, bias=False)  # W_a
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)  # W_c

    def energies(self, query: Tensor, memory: Tensor, keys: Tensor | None) -> Tensor:
        return torch.bmm(self.score(query.float()), memory.transpose(1, 2))


class BahdanauAttention(Attention):
    """Bahdanau et al. (2015) additive attention v^T tanh(W s_{t-1} + U h_j), before the RNN step."""

    feeds_context = True

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(hidden_size, hidden_size, bias=False)  # W
        self.key = nn.Linear(hidden_size, hidden_size, bias=False)  # U
        self.v = nn.Linear(hidden_size, 1, bias=False)  # v
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)  # W_o

    def precompute_keys(self, memory: Tensor) -> Tensor:
        """U h_j [B, S, H]: the same at every step, so computed once per source, not once per step."""
        return self.key(memory)

    def energies(self, query: Tensor, memory: Tensor, keys: Tensor | None) -> Tensor:
        assert keys is not None, "BahdanauAttention needs the keys from precompute_keys"
        projected = self.query(query.float()).unsqueeze(1)  # W s_{t-1}: [B, 1, H]
        return self.v(torch.tanh(projected + keys.float())).transpose(1, 2)  # [B, 1, S]


def attention_class(name: str) -> type[Attention] | None:
    """The class of the attention form ``name`` (``repro.models.forms.ATTENTIONS``); None for ``none``."""
    if name not in ATTENTIONS:
        raise ConfigError(f"model.attention must be one of {', '.join(ATTENTIONS)}, got {name!r}")
    class_name = ATTENTIONS[name].class_name
    if class_name is None:
        return None
    classes = {cls.__name__: cls for cls in _subclasses(Attention)}
    if class_name not in classes:
        raise ConfigError(f"model.attention {name!r}: no attention class {class_name!r} is defined")
    return classes[class_name]


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]
