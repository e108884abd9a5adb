"""Text in, text out: the run's tokenizer and vocabulary around batched beam search.

Raw text is tokenized with the tokenizer the data was prepared with (rebuilt from the run's
``data/meta.json``), mapped to ids (unknown words -> UNK), translated by :func:`beam_search` (the source
is reversed inside the model, as in training), mapped back to words (UNK stays ``<unk>``, as the paper
scored it) and detokenized — or left tokenized, for the paper's BLEU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from repro.data.vocab import Vocab
from repro.inference.beam_search import Hypothesis, _model_device, beam_search
from repro.inference.config import DecodeConfig, SearchSettings
from repro.inference.ensemble import Ensemble, as_decoder, check_same_vocabularies
from repro.models.seq2seq import Seq2Seq

if TYPE_CHECKING:
    from repro.data.tokenize import Tokenizer
    from repro.train.checkpoint import LoadedRun


def load_decoder(run_dirs: Sequence[str | Path], which: str = "best",
                 device: str | torch.device = "cpu") -> tuple[Seq2Seq | Ensemble, LoadedRun]:
    """Load one run or an ensemble of runs: ``(decoder, first LoadedRun)``; vocabularies must agree."""
    from repro.train.checkpoint import load_run

    runs = [load_run(d, which=which, device=device) for d in run_dirs]
    check_same_vocabularies(runs)
    return as_decoder([r.model for r in runs]), runs[0]


def translate_ids(
    decoder: Seq2Seq | Ensemble,
    sources: Sequence[Sequence[int]],
    decode: DecodeConfig | None = None,
    search: SearchSettings = SearchSettings(),
    progress: bool = False,
) -> list[list[Hypothesis]]:
    """Beam-search many id sequences in ``decode.batch_size`` length-sorted batches; results in input order.

    ``decode`` (default: ``DecodeConfig()``) gives the batches, length limits, length normalisation and
    bf16; its ``device`` is not read, the model's decides. An empty source has nothing to encode: its
    translation is the empty hypothesis with score 0. With ``decode.bf16`` the model runs under bf16
    autocast (one autocast region for every batch, so the weights are cast to bf16 once);
    log-probabilities and scores are fp32 either way.
    """
    from tqdm import tqdm

    from repro.device import Precision

    decode = decode or DecodeConfig()
    order = sorted((i for i in range(len(sources)) if len(sources[i]) > 0), key=lambda i: -len(sources[i]))
    results: list[list[Hypothesis]] = [[Hypothesis([], 0.0, 0.0)] for _ in sources]
    batches = [order[k : k + decode.batch_size] for k in range(0, len(order), decode.batch_size)]
    device = _model_device(decoder)
    with tqdm(total=len(order), desc="translate", unit="sent", disable=not progress) as bar, \
            Precision(device, decode.bf16).autocast():
        for batch in batches:
            hyps = beam_search(decoder, [sources[i] for i in batch], search.beam_size, search.nbest,
                               decode.max_len_a, decode.max_len_b, decode.length_norm,
                               min_len=search.min_len)
            for i, h in zip(batch, hyps):
                results[i] = h
            bar.update(len(batch))
    return results


class Translator:
    """A model or ensemble with the tokenizers and vocabularies of its run."""

    def __init__(self, decoder: Seq2Seq | Ensemble, src_vocab: Vocab, tgt_vocab: Vocab, src_tokenizer: Tokenizer,
                 tgt_tokenizer: Tokenizer) -> None:
        self.decoder = decoder
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.src_tokenizer, self.tgt_tokenizer = src_tokenizer, tgt_tokenizer

    @classmethod
    def from_runs(cls, run_dirs: Sequence[str | Path] | str | Path, which: str = "best",
                  device: str | torch.device = "cpu") -> Translator:
        if isinstance(run_dirs, (str, Path)):
            run_dirs = [run_dirs]
        decoder, run = load_decoder(run_dirs, which, device)
        src_tok, tgt_tok = run.tokenizers()
        return cls(decoder, run.src_vocab, run.tgt_vocab, src_tok, tgt_tok)

    def source_ids(self, lines: Sequence[str], tokenized: bool = False) -> list[list[int]]:
        """Tokenize (unless ``tokenized``: whitespace split) and map to ids, unknown words to UNK."""
        tok: Callable[[str], list[str]] = str.split if tokenized else self.src_tokenizer.tokenize
        return [self.src_vocab.encode(tok(line)) for line in lines]

    def target_tokens(self, ids: Sequence[int]) -> list[str]:
        return self.tgt_vocab.decode(ids)

    def translate_nbest(self, lines: Sequence[str], decode: DecodeConfig | None = None,
                        search: SearchSettings = SearchSettings(), tokenized_input: bool = False,
                        tokenized_output: bool = False, progress: bool = False) -> list[list[tuple[str, float]]]:
        """Per line, up to ``search.nbest`` (text, ranking score) pairs, best first (see :func:`translate_ids`)."""
        hyps = translate_ids(self.decoder, self.source_ids(lines, tokenized_input), decode, search, progress)
        out: list[list[tuple[str, float]]] = []
        for sent in hyps:
            entries: list[tuple[str, float]] = []
            for h in sent:
                tokens = self.target_tokens(h.tokens)
                text = " ".join(tokens) if tokenized_output else self.tgt_tokenizer.detokenize(tokens)
                entries.append((text, h.ranking_score))
            out.append(entries)
        return out

    def translate(self, lines: Sequence[str], decode: DecodeConfig | None = None,
                  search: SearchSettings = SearchSettings(), tokenized_input: bool = False,
                  tokenized_output: bool = False, progress: bool = False) -> list[str]:
        """The best translation of each line (detokenized unless ``tokenized_output``); ``search.nbest`` is ignored."""
        one_best = replace(search, nbest=1)
        return [sent[0][0] for sent in
                self.translate_nbest(lines, decode, one_best, tokenized_input, tokenized_output, progress)]
