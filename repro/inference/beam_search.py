"""Left-to-right beam search (paper §3.2), batched over sentences × beam as one decoder batch.

The decoder batch holds ``K`` rows per unfinished sentence (row ``a*K + k`` is hypothesis ``k`` of
active sentence ``a``); every step is one ``decode_step`` call on all of them, and a ``topk`` over
``K × V`` candidates per sentence picks the next beam. There is no Python loop over sentences in the
hot path, only over time steps (and over the hypotheses that finish, when some do).

Cost beyond the model's own step: the candidate scores are added in place into the step's
log-probabilities; the top ``2K + 1`` are found from the best chunks of each sentence's row (see
``_topk``) rather than by a ``topk`` over all ``K × V``; ties at the boundary are detected from those
values alone; the first step runs once per sentence, not ``K`` times; and a step without ties or
finished hypotheses costs one host sync (which sentences go on).

The rules, stated once:

* Scores are sums of the model's log-probabilities, ``<eos>`` included. ``<pad>`` and ``<sos>`` are
  never generated; ``<unk>`` is an ordinary word and stays in the output (the paper scored it so).
* A hypothesis leaves the beam as soon as it emits ``<eos>`` (the paper): among each sentence's best
  ``K`` extensions, those ending in ``<eos>`` are set aside as finished and the beam is refilled with
  the best ``K`` extensions that do not end in ``<eos>``.
* A hypothesis has at most ``max_len = floor(max_len_a * src_len + max_len_b)`` words; at that length
  only ``<eos>`` may follow (scored with its real log-probability).
* ``<eos>`` may not follow fewer than ``min_len`` words (unless ``max_len`` is reached first). 0 is the
  paper's search, in which the empty translation competes; 1 is fairseq's convention.
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

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from repro.inference.config import BEAM_SIZE, MIN_LEN, DecodeConfig

if TYPE_CHECKING:
    from repro.inference.ensemble import Ensemble
    from repro.models.seq2seq import Seq2Seq


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


def _model_device(model: Seq2Seq | Ensemble) -> torch.device:
    if hasattr(model, "device"):
        return torch.device(model.device)
    return next(model.parameters()).device


def _top_candidates(candidates: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Each row's ``k`` best candidates, best first; equal scores ordered by the lower index.

    Exact float ties do occur (flat distributions in float32), and ``topk`` resolves them
    arbitrarily — differently for different batch shapes. Ordering them by candidate index (parent
    row, then word) makes a sentence's result independent of the batch it is decoded in. A finite
    tie straddling the k-th place is detected from one extra ``topk`` place (the (k+1)-th best equals
    the k-th), not by a pass over every candidate, and those rows are resolved as a stable full sort
    would (:func:`_top_with_ties`). A tie at ``-inf`` is left as ``topk`` made it: ``-inf`` candidates
    never finish and never lead to a finite one, so which of them fill the last places cannot change
    a result.
    """
    n = candidates.size(1)
    if k >= n:
        top_scores, top_index = candidates.topk(n, dim=1)
    else:
        top_scores, top_index = _topk(candidates, k + 1)
        kth = top_scores[:, k - 1]
        straddles = (top_scores[:, k] == kth) & (kth > -math.inf)
        top_scores, top_index = top_scores[:, :k], top_index[:, :k]
        if bool(straddles.any()):
            rows = straddles.nonzero(as_tuple=True)[0]
            top_scores[rows], top_index[rows] = _top_with_ties(candidates[rows], kth[rows], k)
    top_index, perm = top_index.sort(dim=1)
    top_scores, perm = top_scores.gather(1, perm).sort(dim=1, descending=True, stable=True)
    return top_scores, top_index.gather(1, perm)


_CHUNK = 256  # candidates per chunk in _topk (a divisor of the row length near it, where there is one)


@functools.lru_cache(maxsize=256)
def _chunk_size(n: int) -> int:
    """A chunk length near ``_CHUNK`` that divides ``n`` (no tail to pool), else ``_CHUNK``."""
    for delta in range(_CHUNK // 2):
        for size in (_CHUNK - delta, _CHUNK + delta):
            if n % size == 0:
                return size
    return _CHUNK


def _topk(candidates: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """``candidates.topk(m, dim=1)`` (values best first, ties in any order), cheaper for long rows.

    A row of ``K × V`` candidates is cut into chunks of about ``_CHUNK``; the ``m`` chunks with the
    highest maxima (plus the short tail, if any) are pooled and ``topk`` runs on the pool only. Exact:
    the ``m`` pooled chunk maxima are ``m`` distinct candidates at least as high as the maximum ``t`` of
    any chunk left out, so every candidate left out is ``<= t <=`` the ``m``-th best of the pool: the
    ``m`` best values are the pool's, and a left-out candidate can only equal the ``m``-th of them (a
    tie at the last place, which callers detect from the values alone).
    """
    rows, n = candidates.shape
    size = _chunk_size(n)
    n_chunks = n // size
    if n_chunks < 4 * m:  # the pool would be a large part of the row: a plain topk is as cheap
        return candidates.topk(m, dim=1)
    main = candidates[:, : n_chunks * size].unflatten(1, (n_chunks, size))
    chunks = main.amax(dim=2).topk(m, dim=1).indices  # [rows, m]
    offsets = torch.arange(size, device=candidates.device)
    pool = main.gather(1, chunks.unsqueeze(2).expand(rows, m, size)).view(rows, m * size)
    pool_index = (chunks.unsqueeze(2) * size + offsets).view(rows, m * size)
    if n_chunks * size < n:
        pool = torch.cat([pool, candidates[:, n_chunks * size :]], dim=1)
        tail = torch.arange(n_chunks * size, n, device=candidates.device)
        pool_index = torch.cat([pool_index, tail.expand(rows, -1)], dim=1)
    values, where = pool.topk(m, dim=1)
    return values, pool_index.gather(1, where)


def _top_with_ties(candidates: Tensor, kth: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` best of each row by (score descending, index ascending), given each row's k-th best score.

    Only the candidates scoring at least ``kth`` are gathered (``k`` plus the tied ones), then ordered by
    row, score and index with stable sorts of that short list: what a stable full sort of every row
    would pick, without sorting the rows (a tie is common where logits are rounded to bfloat16).
    """
    rows, cols = (candidates >= kth.unsqueeze(1)).nonzero(as_tuple=True)  # row-major: by row, then index
    values = candidates[rows, cols]
    order = values.sort(descending=True, stable=True).indices
    order = order[rows[order].sort(stable=True).indices]  # by row; within a row by score, then index
    rows, cols, values = rows[order], cols[order], values[order]
    starts = torch.searchsorted(rows, torch.arange(candidates.size(0), device=rows.device))
    take = (starts.unsqueeze(1) + torch.arange(k, device=rows.device)).view(-1)
    return values[take].view(-1, k), cols[take].view(-1, k)


# no_grad, not inference_mode: under bf16 autocast, inference mode defeats autocast's cache of the weights'
# bf16 copies, and every weight would be cast again at every step.
@torch.no_grad()
def beam_search(
    model: Seq2Seq | Ensemble,
    sources: Sequence[Sequence[int]],
    beam_size: int = BEAM_SIZE,
    nbest: int = 1,
    max_len_a: float = DecodeConfig.max_len_a,
    max_len_b: float = DecodeConfig.max_len_b,
    length_norm: float = DecodeConfig.length_norm,
    return_step_scores: bool = False,
    min_len: int = MIN_LEN,
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
    if min_len < 0:
        raise ValueError(f"min_len must be >= 0, got {min_len}")
    if len(sources) == 0:
        return []
    cfg = model.config
    pad_id, sos_id, eos_id = cfg.pad_id, cfg.sos_id, cfg.eos_id
    device = _model_device(model)
    K = beam_size
    src, src_lengths = pad_sources(sources, pad_id, device)
    B = src.size(0)
    # Maximum lengths live on the host: which sentences are at their limit is known without a device sync.
    limits = torch.tensor(max_lengths(src_lengths.tolist(), max_len_a, max_len_b), dtype=torch.long)
    banned = torch.tensor(sorted({pad_id, sos_id}), dtype=torch.long, device=device)

    # Step 0: the K beam rows of a sentence would all hold the same state and read <sos>, so the first
    # step is decoded once per sentence and its state and log-probabilities are copied to the K rows.
    state = model.init_decoder_state(model.encode(src, src_lengths))
    log_probs, state = model.decode_step(torch.full((B,), sos_id, dtype=torch.long, device=device), state)
    if K > 1:
        expand = torch.arange(B, device=device).repeat_interleave(K)
        state = model.reorder_state(state, expand)
        log_probs = log_probs.index_select(0, expand)

    # Only row 0 of each beam is live at the start; the others are -inf placeholders.
    scores = torch.full((B, K), -math.inf, device=device)
    scores[:, 0] = 0.0
    history = torch.zeros((B * K, 0), dtype=torch.long, device=device)  # generated words of each row
    step_history = torch.zeros((B * K, 0), device=device)  # per-word log-probabilities of each row
    sentence_ids = torch.arange(B)  # original index of each active sentence (host)
    active_limits = limits  # maximum length of each active sentence (host)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    n_finished = torch.zeros(B, dtype=torch.long, device=device)  # per active sentence
    # Without length normalisation: the nbest-th best finished score, -inf until there are nbest.
    nbest_bound = torch.full((B,), -math.inf, device=device)
    k_top = min(2 * K, K * log_probs.size(1))

    step = 0
    while True:
        A = sentence_ids.numel()
        V = log_probs.size(1)
        log_probs.index_fill_(1, banned, -math.inf)
        if step < min_len:
            log_probs[:, eos_id] = -math.inf
        at_limit_host = active_limits <= step  # only <eos> may follow
        lp = log_probs.view(A, K, V)
        if bool(at_limit_host.any()):
            at_limit = at_limit_host.nonzero(as_tuple=True)[0].to(device)
            eos_column = lp[at_limit, :, eos_id]
            lp.index_fill_(0, at_limit, -math.inf)
            lp[at_limit, :, eos_id] = eos_column

        # Scores are added in place (the log-probabilities are this step's own tensor) unless the
        # per-word log-probabilities are wanted as well.
        if return_step_scores:
            candidates = (scores.unsqueeze(2) + lp).view(A, K * V)
        else:
            candidates = lp.add_(scores.unsqueeze(2)).view(A, K * V)
        # 2K candidates always hold >= K that do not end in <eos> (each row has one <eos> extension).
        top_scores, top_index = _top_candidates(candidates, k_top)
        top_beam = torch.div(top_index, V, rounding_mode="floor")
        top_token = top_index - top_beam * V
        is_eos = top_token == eos_id

        # Finished: <eos> extensions among each sentence's best K, with a finite score.
        finish = is_eos[:, :K] & torch.isfinite(top_scores[:, :K])
        if bool(finish.any()):
            _record_finished(finish, top_scores, top_beam, history, step_history, log_probs, sentence_ids,
                             finished, n_finished, nbest_bound, K, nbest, eos_id, length_norm, return_step_scores)

        # The new beam: the best K extensions that do not end in <eos> (stable sort keeps rank order).
        keep = torch.sort(is_eos.to(torch.int8), dim=1, stable=True).indices[:, :K]
        new_scores = top_scores.gather(1, keep)
        new_beam = top_beam.gather(1, keep)
        new_token = top_token.gather(1, keep)

        # Which sentences are done after this step (the one host sync of a step without ties or finishes).
        best_live = new_scores[:, 0]
        done = (n_finished >= K) | ~torch.isfinite(best_live)
        if length_norm == 0:
            done |= best_live < nbest_bound
        done |= at_limit_host.to(device)
        keep_sent = (~done).nonzero(as_tuple=True)[0]
        n_keep = keep_sent.numel()
        if n_keep == 0:
            break

        # One reorder per step: drop done sentences and follow each kept row to its parent row.
        if n_keep < A:
            new_beam, new_token, new_scores = new_beam[keep_sent], new_token[keep_sent], new_scores[keep_sent]
            n_finished, nbest_bound = n_finished[keep_sent], nbest_bound[keep_sent]
            keep_host = keep_sent.cpu()
            sentence_ids, active_limits = sentence_ids[keep_host], active_limits[keep_host]
            parent = (keep_sent.unsqueeze(1) * K + new_beam).view(-1)
        else:
            parent = (torch.arange(0, A * K, K, device=device).unsqueeze(1) + new_beam).view(-1)
        state = model.reorder_state(state, parent)
        prev_tokens = new_token.reshape(-1)
        history = torch.cat([history[parent], prev_tokens.unsqueeze(1)], dim=1)
        if return_step_scores:
            chosen = log_probs.view(A * K, V)[parent, prev_tokens]
            step_history = torch.cat([step_history[parent], chosen.unsqueeze(1)], dim=1)
        scores = new_scores
        step += 1
        log_probs, state = model.decode_step(prev_tokens, state)

    results: list[list[Hypothesis]] = []
    for hyps in finished:
        # Stable sort: among equal scores the hypothesis that finished first wins.
        ranked = sorted(hyps, key=lambda h: -h.ranking_score)
        results.append(ranked[:nbest])
    return results


def _record_finished(finish: Tensor, top_scores: Tensor, top_beam: Tensor, history: Tensor, step_history: Tensor,
                     log_probs: Tensor, sentence_ids: Tensor, finished: list[list[Hypothesis]], n_finished: Tensor,
                     nbest_bound: Tensor, K: int, nbest: int, eos_id: int, length_norm: float,
                     return_step_scores: bool) -> None:
    """Set aside this step's finished hypotheses; update the per-sentence counts and n-best bounds in place."""
    a_idx, rank = finish.nonzero(as_tuple=True)
    rows = a_idx * K + top_beam[a_idx, rank]
    words = history[rows].tolist()
    step_lp = None
    if return_step_scores:
        eos_lp = log_probs[rows, eos_id].unsqueeze(1)
        step_lp = torch.cat([step_history[rows], eos_lp], dim=1).tolist()
    sids = sentence_ids.tolist()
    touched: dict[int, int] = {}
    for j, (a, s) in enumerate(zip(a_idx.tolist(), top_scores[a_idx, rank].tolist())):
        sent = sids[a]
        rank_score = s / (len(words[j]) + 1) ** length_norm if length_norm > 0 else s
        finished[sent].append(Hypothesis(words[j], s, rank_score, step_lp[j] if step_lp else []))
        touched[a] = sent
    n_finished.add_(finish.sum(dim=1))
    if length_norm == 0:
        for a, sent in touched.items():
            if len(finished[sent]) >= nbest:
                nbest_bound[a] = sorted((h.score for h in finished[sent]), reverse=True)[nbest - 1]


def greedy_search(model: Seq2Seq | Ensemble, sources: Sequence[Sequence[int]], max_len_a: float = DecodeConfig.max_len_a,
                  max_len_b: float = DecodeConfig.max_len_b, min_len: int = MIN_LEN) -> list[Hypothesis]:
    """Beam search with a beam of one (the paper's "beam size 1")."""
    return [hyps[0] for hyps in beam_search(model, sources, 1, 1, max_len_a, max_len_b, min_len=min_len)]
