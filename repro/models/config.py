"""The ``model:`` section: the shape of the encoder–decoder (no torch here, so configs validate fast)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from repro.data.special_tokens import EOS_ID, PAD_ID, SOS_ID
from repro.errors import ConfigError
from repro.models.forms import ATTENTIONS, CELLS

# Set from the prepared data directory by `repro train`, never by a config.
DATA_DEFINED_KEYS = ("src_vocab_size", "tgt_vocab_size", "pad_id", "sos_id", "eos_id")


@dataclass
class ModelConfig:
    """Model shape. The defaults are the paper's: 4 layers of 1000 LSTM cells, 1000-d embeddings."""

    src_vocab_size: int
    tgt_vocab_size: int
    embedding_size: int = 1000
    hidden_size: int = 1000
    num_layers: int = 4
    cell: str = "lstm"
    dropout: float = 0.0
    reverse_source: bool = True
    attention: str = "none"
    # Luong et al. (2015) §3.3: feed the previous attentional vector into the decoder (attention "luong" only).
    input_feeding: bool = False
    init_range: float = 0.08
    # LSTM forget-gate bias at init (Jozefowicz et al. 2015; Joey NMT uses 1.0); None keeps the paper's
    # uniform init. Set on bias_ih, with bias_hh's forget slice zeroed, so the gate's bias is exactly this.
    forget_bias: float | None = None
    pad_id: int = PAD_ID
    sos_id: int = SOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ConfigError(f"model.cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.attention not in ATTENTIONS:
            raise ConfigError(f"model.attention must be one of {', '.join(ATTENTIONS)}, got {self.attention!r}")
        if self.input_feeding and not ATTENTIONS[self.attention].input_feeding:
            forms = " or ".join(repr(name) for name, form in ATTENTIONS.items() if form.input_feeding)
            raise ConfigError(f"model.input_feeding needs model.attention {forms}, got {self.attention!r}")
        for name in ("src_vocab_size", "tgt_vocab_size", "embedding_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.forget_bias is not None and self.cell != "lstm":
            raise ConfigError(f"model.forget_bias applies to LSTM cells only, not {self.cell!r}")

    def to_dict(self) -> dict:
        return asdict(self)
