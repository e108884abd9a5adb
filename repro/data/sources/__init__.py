"""Parallel-text sources. Each yields aligned (source, target) raw strings per split.

Every module of this package is imported here, and each source class in it registers itself under its
``name`` (see ``ParallelSource``), so adding a source is adding its module: ``SOURCES`` maps the names to
the classes, ``PrepareConfig`` has one section ``data.<name>`` per source, and
``repro.data.config.make_source`` builds the one ``data.source`` names from its section. The modules import heavy
libraries (``datasets``, ``requests``, numpy) inside the functions that need them, so this stays cheap.
"""

from __future__ import annotations

import importlib
import pkgutil

from repro.data.sources.base import REGISTRY, SPLITS, ParallelSource, SourceSettings


def _import_modules() -> None:
    """Import every module of the package: defining its source classes registers them."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_modules()
# name -> source class, in the order of the module names (the registry itself, so it lists every source)
SOURCES = REGISTRY


__all__ = ["SOURCES", "SPLITS", "ParallelSource", "SourceSettings"]
