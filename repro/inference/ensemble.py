"""Ensembles (paper Table 1): several models decoded together, one state per model.

At every step the ensemble's score of a word is the **mean of the models' log-probabilities**
(the log of the geometric mean of their distributions, not renormalised). The paper says only that
it ensembled LSTMs; the mean of log-probabilities is the usual choice for beam search scores, and it
makes an ensemble of identical copies exactly equal to one copy (the sum of equal floats divided by
their count is exact for two copies and for one).

An :class:`Ensemble` has the decoding API of :class:`repro.models.seq2seq.Seq2Seq`, so beam search,
rescoring and translation take either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from repro.errors import ReproError
from repro.models.seq2seq import DecoderState, EncoderOutput, Seq2Seq

if TYPE_CHECKING:
    from repro.train.checkpoint import LoadedRun

_SHARED_FIELDS = ("src_vocab_size", "tgt_vocab_size", "pad_id", "sos_id", "eos_id")


class Ensemble:
    """Models over the same vocabularies, each with its own encoder, decoder and state."""

    def __init__(self, models: Sequence[Seq2Seq]) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one model")
        first = models[0].config
        for i, model in enumerate(models[1:], 2):
            for name in _SHARED_FIELDS:
                if getattr(model.config, name) != getattr(first, name):
                    raise ReproError(
                        f"ensemble model {i} has {name}={getattr(model.config, name)} but model 1 has "
                        f"{getattr(first, name)}: ensembled models must share their vocabularies"
                    )
        self.models = list(models)
        self.config = first

    @property
    def device(self) -> torch.device:
        return next(self.models[0].parameters()).device

    def __len__(self) -> int:
        return len(self.models)

    def eval(self) -> Ensemble:
        for model in self.models:
            model.eval()
        return self

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        for model in self.models:
            yield from model.parameters()

    def encode(self, src: Tensor, src_lengths: Tensor) -> list[EncoderOutput]:
        return [model.encode(src, src_lengths) for model in self.models]

    def init_decoder_state(self, encoded: list[EncoderOutput]) -> list[DecoderState]:
        return [model.init_decoder_state(enc) for model, enc in zip(self.models, encoded)]

    def decode_step(self, prev_tokens: Tensor, states: list[DecoderState]) -> tuple[Tensor, list[DecoderState]]:
        total, new_states = None, []
        for model, state in zip(self.models, states):
            lp, new_state = model.decode_step(prev_tokens, state)
            total = lp if total is None else total.add_(lp)  # lp is a fresh tensor: accumulate in place
            new_states.append(new_state)
        if len(self.models) > 1:
            total.div_(len(self.models))
        return total, new_states

    def reorder_state(self, states: list[DecoderState], index: Tensor) -> list[DecoderState]:
        return [model.reorder_state(state, index) for model, state in zip(self.models, states)]

    def __call__(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced log-probabilities [B, T, V]: the mean of the models' log-softmax outputs."""
        outs = [torch.log_softmax(model(src, src_lengths, tgt_in).float(), dim=-1) for model in self.models]
        return outs[0] if len(outs) == 1 else torch.stack(outs).mean(dim=0)


def check_same_vocabularies(runs: Sequence[LoadedRun]) -> None:
    """Loaded runs (``LoadedRun``) to be ensembled must have identical source and target vocabularies."""
    first = runs[0]
    for run in runs[1:]:
        for side in ("src_vocab", "tgt_vocab"):
            if getattr(run, side).itos != getattr(first, side).itos:
                raise ReproError(
                    f"{run.run_dir}: its {side.split('_')[0]} vocabulary differs from that of {first.run_dir}; "
                    "an ensemble needs models trained on the same prepared data"
                )


def as_decoder(models: Seq2Seq | Sequence[Seq2Seq] | Ensemble) -> Seq2Seq | Ensemble:
    """One model stays itself (the fast path); several become an :class:`Ensemble`."""
    if isinstance(models, (Seq2Seq, Ensemble)):
        return models
    models = list(models)
    return models[0] if len(models) == 1 else Ensemble(models)
