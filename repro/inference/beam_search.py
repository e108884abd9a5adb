"""Left-to-right beam search (paper §3.2), batched over sentences × beam as one decoder batch.

The decoder batch holds ``K`` rows per unfinished sentence (row ``a*K + k`` is hypothesis ``k`` of
active sentence ``a``); every step is one ``decode_step`` call on all of them, and a ``topk`` over
``K × V`` candidates per sentence picks the next beam. There is no Python loop over sentences in the
hot path, only over time steps.

The rules, stated once:

* Scores are sums of the model's log-probabilities, ``<eos>`` included. ``<pad>`` and ``<sos>`` are
  never generated; ``<unk>`` is an ordinary word and stays in the output (the paper scored it so).
* A hypothesis leaves the beam as soon as it emits ``<eos>`` (the paper): among each sentence's best
  ``K`` extensions, those ending in ``<eos>`` are set aside as finished and the beam is refilled with
  the best ``K`` extensions that do not end in ``<eos>``.
* A hypothesis has at most ``max_len = floor(max_len_a * src_len + max_len_b)`` words; at that length
  only ``<eos>`` may follow (scored with its real log-probability).
* A sentence is done, and leaves the decoder batch at once, when (a) it has ``K`` finished
  hypotheses, or (b) without length normalisation, it has ``nbest`` finished hypotheses and the best
  live score is below the ``nbest``-th finished score (log-probabilities only fall as a hypothesis
  grows, so nothing live can still enter the n-best), or (c) its maximum length is reached, or
  (d) no live hypothesis has a finite score.
* Finished hypotheses are ranked by ``score`` or, with ``length_norm = alpha > 0``, by
  ``score / (len + 1) ** alpha`` (``len + 1`` counts the ``<eos>``; fairseq's normalisation).

``model`` is anything with the decoding API of :class:`repro.models.seq2seq.Seq2Seq` (``config``,
``encode``, ``init_decoder_state``, ``decode_step``, ``reorder_state``): a single model or a
:class:`repro.inference.ensemble.Ensemble`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Hypothesis:
    """A finished translation: word ids (no <sos>/<eos>), log-probability, and the ranking score."""

    tokens: list[int]
    score: float  # log P(tokens, <eos> | source)
    ranking_score: float  # score, or the length-normalised score when length_norm > 0
    step_scores: list[float] = field(default_factory=list, repr=False)


def max_lengths(src_lengths: Sequence[int], max_len_a: float, max_len_b: float) -> list[int]:
    """The maximum number of words (``<eos>`` excluded) of each sentence's translation."""
    return [max(0, int(math.floor(max_len_a * n + max_len_b))) for n in src_lengths]


def pad_sources(sources: Sequence[Sequence[int]], pad_id: int, device: torch.device | str) -> tuple[Tensor, Tensor]:
    """Right-pad id sequences (natural order) into ``src [B, S]`` and ``lengths [B]`` (int64, CPU)."""
    lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
    if len(sources) == 0 or int(lengths.min()) < 1:
        raise ValueError("every source sentence must have at least one token")
    src = torch.full((len(sources), int(lengths.max())), pad_id, dtype=torch.long)
    for i, sentence in enumerate(sources):
        src[i, : len(sentence)] = torch.as_tensor(list(sentence), dtype=torch.long)
    return src.to(device), lengths


def _model_device(model) -> torch.device:
    if hasattr(model, "device"):
        return torch.device(model.device)
    return next(model.parameters()).device


def _top_candidates(candidates: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Each row's ``k`` best candidates, best first; equal scores ordered by the lower index.

    Exact float ties do occur (flat distributions in float32), and ``topk`` resolves them
    arbitrarily — differently for different batch shapes. Ordering them by candidate index (parent
    row, then word) makes a sentence's result independent of the batch it is decoded in. Rows
    where a tie straddles the k-th place (rare) are resolved by a stable full sort.
    """
    top_scores, top_index = candidates.topk(k, dim=1)
    straddles = (candidates >= top_scores[:, -1:]).sum(dim=1) > k
    if bool(straddles.any()):
        rows = straddles.nonzero(as_tuple=True)[0]
        sorted_scores, sorted_index = candidates[rows].sort(dim=1, descending=True, stable=True)
        top_scores[rows], top_index[rows] = sorted_scores[:, :k], sorted_index[:, :k]
    top_index, perm = top_index.sort(dim=1)
    top_scores, perm = top_scores.gather(1, perm).sort(dim=1, descending=True, stable=True)
    return top_scores, top_index.gather(1, perm)


@torch.inference_mode()
def beam_search(
    model,
    sources: Sequence[Sequence[int]],
    beam_size: int = 12,
    nbest: int = 1,
    max_len_a: float = 2.0,
    max_len_b: float = 10.0,
    length_norm: float = 0.0,
    return_step_scores: bool = False,
) -> list[list[Hypothesis]]:
    """Translate a batch of id sequences (natural order); per sentence, up to ``nbest`` hypotheses, best first.

    See the module docstring for the exact search rules. ``nbest`` must not exceed ``beam_size``.
    """
    if beam_size < 1:
        raise ValueError(f"beam size must be at least 1, got {beam_size}")
    if not 1 <= nbest <= beam_size:
        raise ValueError(f"nbest must be between 1 and the beam size ({beam_size}), got {nbest}")
    if length_norm < 0:
        raise ValueError(f"length normalisation alpha must be >= 0, got {length_norm}")
    if len(sources) == 0:
        return []
    cfg = model.config
    pad_id, sos_id, eos_id = cfg.pad_id, cfg.sos_id, cfg.eos_id
    device = _model_device(model)
    K = beam_size
    src, src_lengths = pad_sources(sources, pad_id, device)
    B = src.size(0)
    limits = torch.tensor(max_lengths(src_lengths.tolist(), max_len_a, max_len_b), dtype=torch.long, device=device)

    # Encode once per sentence, then copy each sentence's state to its K beam rows.
    state = model.init_decoder_state(model.encode(src, src_lengths))
    state = model.reorder_state(state, torch.arange(B, device=device).repeat_interleave(K))

    # Only row 0 of each beam is live at the start; the others are -inf placeholders.
    scores = torch.full((B, K), -math.inf, device=device)
    scores[:, 0] = 0.0
    prev_tokens = torch.full((B * K,), sos_id, dtype=torch.long, device=device)
    history = torch.zeros((B * K, 0), dtype=torch.long, device=device)  # generated words of each row
    step_history = torch.zeros((B * K, 0), device=device)  # per-word log-probabilities of each row
    sentence_ids = torch.arange(B, device=device)  # original index of each active sentence
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    # Without length normalisation: the nbest-th best finished score, -inf until there are nbest.
    nbest_bound = [-math.inf] * B

    step = 0
    while sentence_ids.numel() > 0:
        A = sentence_ids.numel()
        sids = sentence_ids.tolist()  # one device sync per step, not one per hypothesis
        log_probs, state = model.decode_step(prev_tokens, state)
        V = log_probs.size(1)
        log_probs[:, pad_id] = -math.inf
        log_probs[:, sos_id] = -math.inf
        at_limit = (limits[sentence_ids] <= step).repeat_interleave(K)  # only <eos> may follow
        if bool(at_limit.any()):
            eos_column = log_probs[:, eos_id].clone()
            log_probs[at_limit] = -math.inf
            log_probs[:, eos_id] = eos_column

        candidates = (scores.unsqueeze(2) + log_probs.view(A, K, V)).view(A, K * V)
        # 2K candidates always hold >= K that do not end in <eos> (each row has one <eos> extension).
        top_scores, top_index = _top_candidates(candidates, min(2 * K, K * V))
        top_beam = torch.div(top_index, V, rounding_mode="floor")
        top_token = top_index % V
        is_eos = top_token == eos_id

        # Finished: <eos> extensions among each sentence's best K, with a finite score.
        finish = is_eos[:, :K] & torch.isfinite(top_scores[:, :K])
        if bool(finish.any()):
            a_idx, rank = finish.nonzero(as_tuple=True)
            rows = a_idx * K + top_beam[a_idx, rank]
            words = history[rows].tolist()
            step_lp = None
            if return_step_scores:
                eos_lp = log_probs[rows, eos_id].unsqueeze(1)
                step_lp = torch.cat([step_history[rows], eos_lp], dim=1).tolist()
            for j, (a, s) in enumerate(zip(a_idx.tolist(), top_scores[a_idx, rank].tolist())):
                sent = sids[a]
                rank_score = s / (len(words[j]) + 1) ** length_norm if length_norm > 0 else s
                finished[sent].append(Hypothesis(words[j], s, rank_score, step_lp[j] if step_lp else []))
                if length_norm == 0 and len(finished[sent]) >= nbest:
                    nbest_bound[sent] = sorted((h.score for h in finished[sent]), reverse=True)[nbest - 1]

        # The new beam: the best K extensions that do not end in <eos> (stable sort keeps rank order).
        keep = torch.sort(is_eos.to(torch.int8), dim=1, stable=True).indices[:, :K]
        new_scores = top_scores.gather(1, keep)
        new_beam = top_beam.gather(1, keep)
        new_token = top_token.gather(1, keep)

        # Which sentences are done after this step.
        n_finished = torch.tensor([len(finished[s]) for s in sids], device=device)
        done = (n_finished >= K) | (limits[sentence_ids] <= step) | ~torch.isfinite(new_scores[:, 0])
        if length_norm == 0:
            bound = torch.tensor([nbest_bound[s] for s in sids], device=device)
            done |= new_scores[:, 0] < bound
        keep_sent = (~done).nonzero(as_tuple=True)[0]
        if keep_sent.numel() == 0:
            break

        # One reorder per step: drop done sentences and follow each kept row to its parent row.
        parent = (keep_sent.unsqueeze(1) * K + new_beam[keep_sent]).view(-1)
        state = model.reorder_state(state, parent)
        prev_tokens = new_token[keep_sent].view(-1)
        history = torch.cat([history[parent], prev_tokens.unsqueeze(1)], dim=1)
        if return_step_scores:
            chosen = log_probs.view(A, K, V)[keep_sent.unsqueeze(1), new_beam[keep_sent], new_token[keep_sent]]
            step_history = torch.cat([step_history[parent], chosen.reshape(-1, 1)], dim=1)
        scores = new_scores[keep_sent]
        sentence_ids = sentence_ids[keep_sent]
        step += 1

    results: list[list[Hypothesis]] = []
    for hyps in finished:
        # Stable sort: among equal scores the hypothesis that finished first wins.
        ranked = sorted(hyps, key=lambda h: -h.ranking_score)
        results.append(ranked[:nbest])
    return results


def greedy_search(model, sources: Sequence[Sequence[int]], max_len_a: float = 2.0, max_len_b: float = 10.0) -> list[Hypothesis]:
    """Beam search with a beam of one (the paper's "beam size 1")."""
    return [hyps[0] for hyps in beam_search(model, sources, 1, 1, max_len_a, max_len_b)]
