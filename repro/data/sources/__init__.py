"""Parallel-text sources. Each yields aligned (source, target) raw strings per split.

Every module of this package is imported here, and each source class in it registers itself under its
``name`` (see ``ParallelSource``), so adding a source is adding its module: ``SOURCES`` maps the names to
the classes, ``make_source(config)`` builds the one named by ``PrepareConfig.source`` from its own section
(``data.<name>``), and ``PrepareConfig`` has one such section per source. The modules import heavy
libraries (``datasets``, ``requests``, numpy) inside the functions that need them, so this stays cheap.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from repro.data.sources.base import REGISTRY, SPLITS, ParallelSource
from repro.errors import ReproError

if TYPE_CHECKING:
    from repro.data.config import PrepareConfig


def _import_modules() -> None:
    """Import every module of the package: defining its source classes registers them."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_modules()
# name -> source class, in the order of the module names (the registry itself, so it lists every source)
SOURCES = REGISTRY


def make_source(config: PrepareConfig) -> ParallelSource:
    """The source named by ``config.source``, configured from its own section of ``config``."""
    if config.source not in SOURCES:
        raise ReproError(f"data.source: unknown source {config.source!r}; choose one of {', '.join(SOURCES)}")
    return SOURCES[config.source].from_config(config)


__all__ = ["SOURCES", "SPLITS", "ParallelSource", "make_source"]
