"""Parallel-text sources. Each yields aligned (source, target) raw strings per split.

``make_source(config)`` builds the source named by ``PrepareConfig.source`` from its per-source section
(``data.wmt14``, ``data.schwenk``, ``data.multi30k``, ``data.local``, ``data.synthetic``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from repro.data.sources.base import SPLITS, ParallelSource
from repro.errors import ReproError

if TYPE_CHECKING:
    from repro.data.config import PrepareConfig

SOURCES = ("wmt14", "schwenk", "multi30k", "local", "synthetic")


def make_source(config: PrepareConfig) -> ParallelSource:
    """The source named by ``config.source``, configured from its own section of ``config``."""
    if config.source == "wmt14":
        from repro.data.sources.wmt14 import Wmt14Source

        return Wmt14Source.from_config(config)
    if config.source == "schwenk":
        from repro.data.sources.schwenk import SchwenkSource

        return SchwenkSource.from_config(config)
    if config.source == "multi30k":
        from repro.data.sources.multi30k import Multi30kSource

        return Multi30kSource.from_config(config)
    if config.source == "local":
        from repro.data.sources.local import LocalSource

        return LocalSource.from_config(config)
    if config.source == "synthetic":
        from repro.data.sources.synthetic import SyntheticSource

        return SyntheticSource.from_config(config)
    raise ReproError(f"data.source: unknown source {config.source!r}; choose one of {', '.join(SOURCES)}")


__all__ = ["SOURCES", "SPLITS", "ParallelSource", "make_source"]
