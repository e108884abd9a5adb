"""Integer-encoded splits as flat memory-mapped numpy arrays, so 12M pairs never sit in Python lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.errors import DataError
from repro.io import atomic_save

SPLITS = ("train", "valid", "test")


class RaggedArray:
    """Variable-length int32 sequences stored as one flat array plus n+1 int64 offsets."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(ids):
            raise ValueError("offsets must start at 0 and end at len(ids)")
        self.ids = ids
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        if index < 0:
            index += len(self)
        return self.ids[self.offsets[index] : self.offsets[index + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @classmethod
    def from_sequences(cls, sequences: Iterable[Sequence[int]]) -> RaggedArray:
        chunks = [np.asarray(s, dtype=np.int32) for s in sequences]
        offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
        if chunks:
            np.cumsum([len(c) for c in chunks], out=offsets[1:])
        ids = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
        return cls(ids.astype(np.int32, copy=False), offsets)

    def save(self, prefix: str | Path) -> None:
        """Write ``prefix.ids.npy`` and ``prefix.offsets.npy`` atomically."""
        prefix = str(prefix)
        atomic_save(lambda tmp: _np_save(tmp, self.ids), prefix + ".ids.npy")
        atomic_save(lambda tmp: _np_save(tmp, self.offsets), prefix + ".offsets.npy")

    @classmethod
    def load(cls, prefix: str | Path, mmap: bool = True) -> RaggedArray:
        prefix = str(prefix)
        mode = "r" if mmap else None
        try:
            ids = np.load(prefix + ".ids.npy", mmap_mode=mode)
            offsets = np.load(prefix + ".offsets.npy", mmap_mode=mode)
        except FileNotFoundError as exc:
            raise DataError("prepared split file not found (run `repro prepare` first)", exc.filename) from exc
        return cls(ids, np.asarray(offsets))


def _np_save(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a file handle keeps numpy from appending a second ".npy"
        np.save(handle, array)


class RaggedWriter:
    """Append sequences chunk by chunk to disk, without holding the split in memory."""

    def __init__(self, prefix: str | Path) -> None:
        self.prefix = str(prefix)
        self._ids_tmp = self.prefix + ".ids.raw.tmp"
        self._handle = open(self._ids_tmp, "wb")
        self._lengths: list[np.ndarray] = []
        self.count = 0

    def append_many(self, sequences: Iterable[Sequence[int]]) -> None:
        chunk = [np.asarray(s, dtype=np.int32) for s in sequences]
        if not chunk:
            return
        self._lengths.append(np.fromiter((len(c) for c in chunk), dtype=np.int64, count=len(chunk)))
        np.concatenate(chunk).astype(np.int32, copy=False).tofile(self._handle)
        self.count += len(chunk)

    def append_arrays(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        """Append sequences given as one flat id array and their lengths (what workers return)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != len(ids):
            raise ValueError(f"lengths sum to {int(lengths.sum())} but {len(ids)} ids were given")
        if len(lengths):
            self._lengths.append(lengths)
            np.asarray(ids, dtype=np.int32).tofile(self._handle)
            self.count += len(lengths)

    def close(self) -> RaggedArray:
        self._handle.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        raw = np.memmap(self._ids_tmp, dtype=np.int32, mode="r") if offsets[-1] else np.zeros(0, np.int32)
        array = RaggedArray(raw, offsets)
        array.save(self.prefix)
        del raw, array
        Path(self._ids_tmp).unlink()
        return RaggedArray.load(self.prefix)


@dataclass
class ParallelSplit:
    """One split of a prepared corpus: aligned source and target id sequences (no <sos>/<eos>)."""

    src: RaggedArray
    tgt: RaggedArray
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.src) != len(self.tgt):
            raise ValueError(f"split {self.name}: {len(self.src)} source vs {len(self.tgt)} target sentences")

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.src[index], self.tgt[index]


def load_meta(data_dir: str | Path) -> dict:
    """``meta.json`` of a prepared data directory (or of a run's ``data/`` copy)."""
    import json

    path = Path(data_dir) / "meta.json"
    if not path.exists():
        raise DataError("not a prepared data directory (no meta.json); run `repro prepare` first", data_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path, exc.lineno) from exc


def load_split(data_dir: str | Path, split: str, mmap: bool = True) -> ParallelSplit:
    data_dir = Path(data_dir)
    if not (data_dir / "meta.json").exists():
        raise DataError("not a prepared data directory (no meta.json); run `repro prepare` first", data_dir)
    return ParallelSplit(
        RaggedArray.load(data_dir / f"{split}.src", mmap), RaggedArray.load(data_dir / f"{split}.tgt", mmap), split
    )
