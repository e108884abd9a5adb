"""seq2seq-repro: a reproducibility suite for Sutskever, Vinyals & Le (2014)."""

__version__ = "0.1.0"
