"""The interface every source implements, and helpers over the files sources read.

Sources read text lines through :func:`repro.io.iter_text_lines` (with ``decompress=True``: corpora
come plain or gzipped), the reader every command uses too, so errors name the file and line alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from repro.errors import DataError
from repro.io import iter_text_lines, open_input, read_errors

SPLITS = ("train", "valid", "test")


class ParallelSource(ABC):
    """Aligned sentence pairs, split into train / valid / test.

    ``pretokenized`` says whether the text is already tokenized (split on whitespace only: never
    tokenize twice).
    """

    name: str = ""
    pretokenized: bool = False
    # whether fetch() downloads files (the workflow then runs it as its own job, before preparation)
    downloads: bool = False

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
