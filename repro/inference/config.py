"""The ``decode:`` section: how the workflow decodes the test set (beam sizes come from ``paper:``).

The defaults here are the only ones: ``repro translate``, :class:`repro.inference.translate.DecodeOptions`
and :func:`repro.inference.beam_search.beam_search` take theirs from :class:`DecodeConfig` and
:data:`BEAM_SIZE`, so a value lives in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from repro.config import DEVICES, dataclass_from_dict
from repro.errors import ConfigError


# The beam of a single decode when none is given: the paper's best (Table 1). The workflow's beams are
# paper:'s lists, not this.
BEAM_SIZE = 12
# ``<eos>`` may not follow fewer words than this: 0 is the paper's search, in which the empty translation
# competes. Not a decode: key: the workflow decodes the paper's systems with 0 and adds fairseq's
# convention (1) as its own systems (repro.experiments.SystemSpec.min_len).
MIN_LEN = 0


@dataclass
class DecodeConfig:
    """Keys of ``decode:``.

    batch_size: sentences per decoder batch (each becomes beam-size rows).
    device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    max_len_a, max_len_b: a translation has at most ``floor(a * source length + b)`` words.
    length_norm: rank finished hypotheses by score / (length + 1) ** alpha; 0 is the paper's
        unnormalised search.
    bf16: run the model under bf16 autocast (log-softmax and scores stay fp32).
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
        if self.max_len_a < 0 or self.max_len_b < 0:
            raise ConfigError(f"decode.max_len_a and max_len_b must be >= 0, got {self.max_len_a}, {self.max_len_b}")
        if self.length_norm < 0:
            raise ConfigError(f"decode.length_norm must be >= 0, got {self.length_norm}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> DecodeConfig:
        return dataclass_from_dict(cls, values, "decode")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
