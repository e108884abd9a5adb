"""The interface every source implements, and line reading with clear errors."""

from __future__ import annotations

import gzip
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from repro.errors import DataError

SPLITS = ("train", "valid", "test")


class ParallelSource(ABC):
    """Aligned sentence pairs, split into train / valid / test.

    ``pretokenized`` says whether the text is already tokenized (split on whitespace only: never
    tokenize twice).
    """

    name: str = ""
    pretokenized: bool = False

    def fetch(self) -> None:  # noqa: B027 - optional hook
        """Download / locate the data (resumable); a no-op for sources that need nothing."""

    @abstractmethod
    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """Yield ``(source_sentence, target_sentence)`` raw strings of ``split`` in a fixed order."""

    def describe(self) -> dict:
        """A JSON-able description of where the data came from (stored in stats.json)."""
        return {"name": self.name, "pretokenized": self.pretokenized}


def open_binary(path: str | Path):
    """Open a plain or gzip-compressed (``.gz``) file for reading bytes."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path)
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_lines(path: str | Path) -> Iterator[str]:
    """Yield the lines of a UTF-8 text file (``.gz`` allowed) without their line ending.

    Invalid UTF-8 raises ``DataError`` naming the file and the 1-based line.
    """
    with open_binary(path) as handle:
        for lineno, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"invalid UTF-8 at byte {exc.start} of the line", path, lineno) from None
            yield line.rstrip("\r\n")


def count_lines(path: str | Path) -> int:
    """Number of lines (a last line without a newline counts)."""
    n = 0
    last = b"\n"
    with open_binary(path) as handle:
        while block := handle.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def zip_aligned(src_path: str | Path, tgt_path: str | Path, src_lines: Iterator[str] | None = None,
                tgt_lines: Iterator[str] | None = None) -> Iterator[tuple[str, str]]:
    """Zip two line streams, failing with both files and both counts if their lengths differ."""
    src_it = src_lines if src_lines is not None else read_lines(src_path)
    tgt_it = tgt_lines if tgt_lines is not None else read_lines(tgt_path)
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


def _misaligned(src_path, n_src: int, tgt_path, n_tgt: int) -> DataError:
    return DataError(
        f"misaligned parallel files: {src_path} has {n_src} sentences but {tgt_path} has {n_tgt}", src_path
    )
