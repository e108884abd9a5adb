"""What a decode is given: the ``decode:`` section (:class:`DecodeConfig`) and the per-call search
(:class:`SearchSettings`: beam size, n-best, minimum length, which come from ``paper:``'s systems).

The defaults here are the only ones: ``repro translate`` / ``score`` / ``rescore`` / ``encode`` read
:class:`DecodeConfig` from ``--config`` and ``--set``, and :func:`repro.inference.beam_search.beam_search`
takes its defaults from it and :data:`BEAM_SIZE`, so a value lives in one place and is checked once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from repro.config import DEVICES, dataclass_from_dict
from repro.errors import ConfigError, ReproError

# The beam of a single decode when none is given: the paper's best (Table 1). The workflow's beams are
# paper:'s lists, not this.
BEAM_SIZE = 12
# ``<eos>`` may not follow fewer words than this: 0 is the paper's search, in which the empty translation
# competes. Not a decode: key: the workflow decodes the paper's systems with 0 and adds fairseq's
# convention (1) as its own systems (repro.experiments.SystemSpec.min_len).
MIN_LEN = 0
# The search settings (SearchSettings) that are options of `repro translate`, not keys of decode:.
SEARCH_OPTIONS = {"beam": "--beam", "beam_size": "--beam", "nbest": "--nbest", "min_len": "--min-len"}


@dataclass
class DecodeConfig:
    """Keys of ``decode:``.

    batch_size: sentences per decoder batch (each becomes beam-size rows).
    device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    max_len_a, max_len_b: a translation has at most ``floor(a * source length + b)`` words.
    length_norm: rank finished hypotheses by score / (length + 1) ** alpha; 0 is the paper's
        unnormalised search.
    bf16: run the model under bf16 autocast (log-softmax and scores stay fp32); where bf16 is not
        native, the commands run in fp32 with a notice (``repro.cli.common.decode_setup``).
    """

    batch_size: int = 64
    device: str = "auto"
    max_len_a: float = 2.0
    max_len_b: float = 10.0
    length_norm: float = 0.0
    bf16: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"decode.batch_size must be positive, got {self.batch_size}")
        if self.device not in DEVICES:
            raise ConfigError(f"decode.device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        for key in ("max_len_a", "max_len_b"):
            if getattr(self, key) < 0:
                raise ConfigError(f"decode.{key} must be >= 0, got {getattr(self, key)}")
        if self.length_norm < 0:
            raise ConfigError(f"decode.length_norm must be >= 0, got {self.length_norm}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> DecodeConfig:
        """``decode:`` checked; a search setting put there is named with its option, where difflib alone
        would suggest a wrong key (``beam_size`` -> ``batch_size``, ``min_len`` -> ``max_len_b``)."""
        for key in values if isinstance(values, dict) else ():
            if key in SEARCH_OPTIONS:
                raise ConfigError(
                    f"config section 'decode': unknown key {key} (did you mean the option {SEARCH_OPTIONS[key]}? "
                    "beam size, n-best and minimum length are settings of each search, not of decode:; the "
                    "workflow takes them from the paper: section's systems)")
        return dataclass_from_dict(cls, values, "decode")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchSettings:
    """The search of one decode that ``decode:`` does not hold (the workflow takes it from a planned system).

    beam_size: hypotheses kept per sentence (``repro translate --beam``).
    nbest: finished hypotheses returned per sentence, at most ``beam_size`` (``--nbest``; 1: the 1-best).
    min_len: ``<eos>`` may not follow fewer words (``--min-len``; 0: the paper's search).
    The messages name the options, as these settings reach the search only from them.
    """

    beam_size: int = BEAM_SIZE
    nbest: int = 1
    min_len: int = MIN_LEN

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ReproError(f"--beam must be at least 1, got {self.beam_size}")
        if not 1 <= self.nbest <= self.beam_size:
            raise ReproError(f"--nbest must be between 1 and the beam size ({self.beam_size}), got {self.nbest}")
        if self.min_len < 0:
            raise ReproError(f"--min-len must be >= 0, got {self.min_len}")
