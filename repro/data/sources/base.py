"""The interface every source implements, the registry of sources, and helpers over the files sources read.

A subclass that sets ``name`` in its body registers itself under that name (``REGISTRY``): the value of
``data.source`` that selects it, and the name of its options section ``data.<name>``.

Sources read text lines through :func:`repro.io.iter_text_lines` (with ``decompress=True``: corpora
come plain or gzipped), the reader every command uses too, so errors name the file and line alike.
"""

from __future__ import annotations

import keyword
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from repro.errors import DataError
from repro.io import iter_text_lines, open_input, read_errors

if TYPE_CHECKING:
    import numpy as np

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class SourceSettings:
    """The ``data:`` settings a source may read besides its own section ``data.<name>``: the translation
    direction, and the seed of random splits and of the synthetic language."""

    src_lang: str
    tgt_lang: str
    seed: int


@dataclass(frozen=True)
class LengthModel:
    """Source lengths log-normal (median, sigma of the log), targets ``ratio`` times as long."""

    median: float
    sigma: float
    ratio: float

    def sample(self, n: int, rng: np.random.Generator, max_len: int | None) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np  # here, not at the top: importing the sources (and so the config) stays light

        src = np.maximum(1, np.rint(self.median * np.exp(self.sigma * rng.standard_normal(n)))).astype(np.int64)
        tgt = np.maximum(1, np.rint(src * self.ratio * np.exp(0.1 * rng.standard_normal(n)))).astype(np.int64)
        if max_len is not None:
            src, tgt = np.minimum(src, max_len), np.minimum(tgt, max_len)
        return src, tgt


@dataclass(frozen=True)
class NominalCorpus:
    """What is known of a downloaded corpus before it is downloaded (``repro estimate``'s nominal profile)."""

    pairs: dict[str, int]
    lengths: dict[str, LengthModel]
    note: str

    def capped(self, max_train_pairs: int | None) -> NominalCorpus:
        """The corpus with at most ``max_train_pairs`` training pairs (null or 0: all of them)."""
        if not max_train_pairs:
            return self
        return NominalCorpus({**self.pairs, "train": min(self.pairs["train"], max_train_pairs)}, self.lengths,
                             self.note)


@dataclass(frozen=True)
class NoOptions:
    """The options type of a source that has none: its section ``data.<name>`` must be empty."""


# name -> source class, filled as the classes are defined (repro.data.sources imports every module)
REGISTRY: dict[str, type[ParallelSource]] = {}


class ParallelSource(ABC):
    """Aligned sentence pairs, split into train / valid / test.

    ``pretokenized`` says whether the text is already tokenized (split on whitespace only: never
    tokenize twice). A concrete source sets ``name`` (which registers it) and ``options_type``, the
    dataclass its section ``data.<name>`` is read into, and builds itself with :meth:`from_options`.
    """

    name: str = ""
    options_type: type = NoOptions
    # Options that only say where a copy of the same data lies (files checked against their checksums):
    # left out of the fingerprints of what is made from the data (repro.records), so a sitting on another
    # machine, with the data elsewhere, continues the same experiment.
    location_options: tuple[str, ...] = ()
    pretokenized: bool = False
    # whether fetch() downloads files (the workflow then runs it as its own job, before preparation)
    downloads: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register a class that sets ``name`` in its own body, so that no list of sources is kept by hand."""
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise TypeError(f"{cls.__qualname__}.name must be an identifier (it names data.<name>), got {name!r}")
        if name in REGISTRY:
            raise TypeError(f"{cls.__qualname__}: source name {name!r} is taken by {REGISTRY[name].__qualname__}")
        REGISTRY[name] = cls

    @classmethod
    @abstractmethod
    def from_options(cls, options: Any, settings: SourceSettings) -> ParallelSource:
        """The source built from its own section ``data.<name>``, read into ``options_type``, and the
        settings of the ``data:`` section every source may read."""

    @property
    def needs_network(self) -> bool:
        """Whether reading the pairs may need the network (a download, or a dataset streamed from a hub)."""
        return self.downloads

    def fetch(self) -> None:  # noqa: B027 - optional hook
        """Download / locate the data (resumable); a no-op for sources that need nothing."""

    @abstractmethod
    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """Yield ``(source_sentence, target_sentence)`` raw strings of ``split`` in a fixed order."""

    def input_paths(self) -> list[Path]:
        """The user's files this source reads: an output directory holding one of them is never replaced."""
        return []

    def describe(self) -> dict:
        """A JSON-able description of where the data came from (stored in stats.json)."""
        return {"name": self.name, "pretokenized": self.pretokenized}

    def nominal_corpus(self) -> NominalCorpus | None:
        """The published size and a length model of the corpus, for estimating a source that reads from the
        network without reading it (None: none is known; the data must be prepared first)."""
        return None


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a plain or gzip-compressed (``.gz``) file for reading bytes; ``DataError`` if it is missing,
    a directory or unreadable."""
    return open_input(path, decompress=True)


def count_lines(path: str | Path) -> int:
    """Number of lines (a last line without a newline counts)."""
    n = 0
    last = b"\n"
    with open_binary(path) as handle, read_errors(path):
        while block := handle.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def zip_aligned(src_path: str | Path, tgt_path: str | Path, src_lines: Iterator[str] | None = None,
                tgt_lines: Iterator[str] | None = None) -> Iterator[tuple[str, str]]:
    """Zip two line streams, failing with both files and both counts if their lengths differ."""
    src_it = src_lines if src_lines is not None else iter_text_lines(src_path, decompress=True)
    tgt_it = tgt_lines if tgt_lines is not None else iter_text_lines(tgt_path, decompress=True)
    n = 0
    for src in src_it:
        tgt = next(tgt_it, None)
        if tgt is None:
            n_src = n + 1 + sum(1 for _ in src_it)
            raise _misaligned(src_path, n_src, tgt_path, n)
        n += 1
        yield src, tgt
    rest = sum(1 for _ in tgt_it)
    if rest:
        raise _misaligned(src_path, n, tgt_path, n + rest)


def _misaligned(src_path: str | Path, n_src: int, tgt_path: str | Path, n_tgt: int) -> DataError:
    return DataError(
        f"misaligned parallel files: {src_path} has {n_src} sentences but {tgt_path} has {n_tgt}", src_path
    )
