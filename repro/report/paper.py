"""The paper's own numbers (Sutskever, Vinyals & Le 2014), the "paper" column of every table.

Each entry names its section so the tables can cite it. Never tune anything toward these.
"""

from __future__ import annotations

from dataclasses import dataclass

CITATION = "Sutskever, Vinyals & Le (2014), arXiv:1409.3215"


@dataclass(frozen=True)
class PaperRow:
    """A row of the paper's tables. ``system``: (source direction, number of models, beam size) of a row this
    suite decodes itself (a single model, or an ensemble of reversed models); None for another system."""

    method: str
    bleu: float
    section: str
    system: tuple[str, int, int] | None = None


# Table 1 — newstest2014, cased multi-bleu.pl BLEU on tokenized text (§3.6).
TABLE1: tuple[PaperRow, ...] = (
    PaperRow("Bahdanau et al. [2]", 28.45, "§3.6, Table 1"),
    PaperRow("Baseline system (phrase-based SMT) [29]", 33.30, "§3.6, Table 1"),
    PaperRow("Single forward LSTM, beam size 12", 26.17, "§3.6, Table 1", system=("forward", 1, 12)),
    PaperRow("Single reversed LSTM, beam size 12", 30.59, "§3.6, Table 1", system=("reversed", 1, 12)),
    PaperRow("Ensemble of 5 reversed LSTMs, beam size 1", 33.00, "§3.6, Table 1", system=("reversed", 5, 1)),
    PaperRow("Ensemble of 2 reversed LSTMs, beam size 12", 33.27, "§3.6, Table 1", system=("reversed", 2, 12)),
    PaperRow("Ensemble of 5 reversed LSTMs, beam size 2", 34.50, "§3.6, Table 1", system=("reversed", 5, 2)),
    PaperRow("Ensemble of 5 reversed LSTMs, beam size 12", 34.81, "§3.6, Table 1", system=("reversed", 5, 12)),
)


def table1_row(direction: str, models: int, beam: int) -> PaperRow | None:
    """The paper's Table 1 row for ``models`` LSTMs on the ``direction`` source at beam ``beam``, if it has one."""
    return next((row for row in TABLE1 if row.system == (direction, models, beam)), None)


# Table 2 — rescoring the SMT baseline's 1000-best lists (§3.6).
TABLE2: tuple[PaperRow, ...] = (
    PaperRow("Baseline system [29]", 33.30, "§3.6, Table 2"),
    PaperRow("Cho et al. [5]", 34.54, "§3.6, Table 2"),
    PaperRow("Best WMT'14 result [9]", 37.0, "§3.6, Table 2"),
    PaperRow("Rescoring the baseline 1000-best with a single forward LSTM", 35.61, "§3.6, Table 2"),
    PaperRow("Rescoring the baseline 1000-best with a single reversed LSTM", 35.85, "§3.6, Table 2"),
    PaperRow("Rescoring the baseline 1000-best with an ensemble of 5 reversed LSTMs", 36.5, "§3.6, Table 2"),
    PaperRow("Oracle rescoring of the baseline 1000-best lists", 45.0, "§3.6, Table 2 (approximate: ~45)"),
)

# §3.3: the text's single-model numbers differ slightly from Table 1's; the paper does not say why.
REVERSAL = {
    "test_perplexity": {"forward": 5.8, "reversed": 4.7, "section": "§3.3"},
    "test_bleu_text": {"forward": 25.9, "reversed": 30.6, "section": "§3.3"},
    "test_bleu_table1": {"forward": 26.17, "reversed": 30.59, "section": "§3.6, Table 1"},
}

MODEL = {"layers": 4, "hidden_size": 1000, "embedding_size": 1000, "src_vocab_size": 160_000,
         "tgt_vocab_size": 80_000, "parameters": 384_000_000, "recurrent_parameters": 64_000_000,
         "section": "§3.2"}

# "Each additional layer reduced perplexity by nearly 10%" (§3.2).
DEPTH_PERPLEXITY_REDUCTION_PER_LAYER = 0.10

SPEED = {"words_per_s_one_gpu": 1_700, "words_per_s_eight_gpus": 6_300, "training_days": 10, "section": "§3.5"}

# Related work for the ablations, from the published papers (cite as such, not as the paper's).
RELATED = {
    "luong2015_reverse": "Luong, Pham & Manning 2015 (En→De, 4×1000, no attention): +reverse 11.3 → 12.6 BLEU, "
    "perplexity 10.6 → 9.9",
    "britz2017_cells": "Britz et al. 2017 (En→De, with attention): LSTM 22.22 ± 0.08 > GRU 21.78 ± 0.05 >> "
    "vanilla RNN decoder 15.38 ± 0.28",
    "britz2017_reverse_depth": "Britz et al. 2017: reversal of a unidirectional encoder helped at depth 1–2 "
    "(+0.6/+0.8) but not at depth 4",
    "bahdanau2015_attention": "Bahdanau et al. 2015 (En→Fr, 30k vocab): RNNencdec-50 17.82 vs RNNsearch-50 "
    "26.75 BLEU — attention removes most of the long-sentence degradation",
}
