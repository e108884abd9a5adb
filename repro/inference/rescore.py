"""Rescoring an existing n-best list (paper Table 2: "average of LSTM log-prob and SMT score").

Each hypothesis gets the model's (or ensemble's) log-probability ``log P(hyp, <eos> | src)`` by
teacher forcing through ``model.forward`` (an ensemble: the sum over positions of the mean of the
models' log-probabilities, the same score beam search gives it). The new score is
``weight * lstm + (1 - weight) * list_score`` — ``weight = 0.5`` is the paper's average, ``1.0`` ranks by
the model alone, ``0.0`` keeps the list's ranking — and the best hypothesis of each sentence wins
(ties: the earlier one in the list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from repro.data.vocab import EOS_ID, PAD_ID, SOS_ID
from repro.inference.beam_search import _model_device, pad_sources
from repro.inference.config import DecodeConfig
from repro.inference.ensemble import Ensemble
from repro.inference.nbest import NBestEntry, group_by_sentence
from repro.models.seq2seq import Seq2Seq


def _log_probs(decoder: Seq2Seq | Ensemble, src: torch.Tensor, src_lengths: torch.Tensor,
               tgt_in: torch.Tensor) -> torch.Tensor:
    if isinstance(decoder, Ensemble):
        return decoder(src, src_lengths, tgt_in)
    return torch.log_softmax(decoder(src, src_lengths, tgt_in).float(), dim=-1)


@torch.no_grad()  # not inference_mode: under bf16 autocast it would re-cast the weights for every batch
def sequence_log_probs(
    decoder: Seq2Seq | Ensemble,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    batch_size: int = DecodeConfig.batch_size,
    progress: bool = False,
    bf16: bool = False,
) -> list[float]:
    """``log P(target, <eos> | source)`` for aligned id sequences (sources non-empty), batched.

    ``bf16``: run the model under bf16 autocast; the log-softmax and the sums stay fp32.
    """
    from tqdm import tqdm

    from repro.device import Precision

    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
    device = _model_device(decoder)
    precision = Precision(device, bf16)
    order = sorted(range(len(sources)), key=lambda i: -len(sources[i]))
    scores = [0.0] * len(sources)
    for k in tqdm(range(0, len(order), batch_size), desc="rescore", unit="batch", disable=not progress):
        batch = order[k : k + batch_size]
        src, src_lengths = pad_sources([sources[i] for i in batch], PAD_ID, device)
        longest = max(len(targets[i]) for i in batch) + 1
        tgt_in = torch.full((len(batch), longest), PAD_ID, dtype=torch.long)
        tgt_out = torch.full((len(batch), longest), PAD_ID, dtype=torch.long)
        for row, i in enumerate(batch):
            t = list(targets[i])
            tgt_in[row, : len(t) + 1] = torch.tensor([SOS_ID] + t)
            tgt_out[row, : len(t) + 1] = torch.tensor(t + [EOS_ID])
        tgt_in, tgt_out = tgt_in.to(device), tgt_out.to(device)
        with precision.autocast():
            lp = _log_probs(decoder, src, src_lengths, tgt_in)
        picked = lp.gather(2, tgt_out.unsqueeze(2)).squeeze(2).masked_fill(tgt_out == PAD_ID, 0.0)
        for row, value in zip(batch, picked.sum(dim=1).tolist()):
            scores[row] = value
    return scores


@dataclass
class RescoredSentence:
    sent_id: int
    best: NBestEntry | None  # None when the list has no entry for this sentence
    combined: float
    lstm_score: float


def rescore_nbest(
    entries: Sequence[NBestEntry],
    lstm_scores: Sequence[float],
    num_sentences: int,
    weight: float = 0.5,
) -> list[RescoredSentence]:
    """Pick, per sentence ``0..num_sentences-1``, the entry maximising the weighted score."""
    if len(entries) != len(lstm_scores):
        raise ValueError(f"{len(entries)} entries but {len(lstm_scores)} model scores")
    index = {id(e): s for e, s in zip(entries, lstm_scores)}
    groups = group_by_sentence(entries)
    out: list[RescoredSentence] = []
    for sent in range(num_sentences):
        best: NBestEntry | None = None
        best_score, best_lstm = -float("inf"), 0.0
        for e in groups.get(sent, []):
            combined = weight * index[id(e)] + (1.0 - weight) * e.score
            if best is None or combined > best_score:
                best, best_score, best_lstm = e, combined, index[id(e)]
        out.append(RescoredSentence(sent, best, best_score, best_lstm))
    return out
