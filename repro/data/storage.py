"""Integer-encoded splits as flat memory-mapped numpy arrays, so 12M pairs never sit in Python lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.errors import DataError
from repro.io import atomic_save, write_failed

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
    def load(cls, prefix: str | Path, mmap: bool = True, vocab_size: int | None = None,
             vocab_source: str = "") -> RaggedArray:
        """Open ``prefix.ids.npy`` / ``prefix.offsets.npy`` and check them (:func:`check_ragged`), so a
        damaged file is a :class:`DataError` naming it here, not a numpy or torch error later.

        ``vocab_size``: every id must lie in [0, vocab_size) (``vocab_source`` says where the size came
        from, for the message); None skips that check (one O(n) pass over the ids less).
        """
        prefix = str(prefix)
        mode = "r" if mmap else None
        ids = _open_npy(Path(prefix + ".ids.npy"), mode)
        offsets = np.asarray(_open_npy(Path(prefix + ".offsets.npy"), mode))
        check_ragged(ids, offsets, Path(prefix + ".ids.npy"), Path(prefix + ".offsets.npy"), vocab_size,
                     vocab_source)
        return cls(ids, offsets)


# ------------------------------------------------------------------------------------------- checks
_DAMAGED = "the data directory is damaged; re-run `repro prepare` to rebuild it"
_CHUNK = 1 << 24  # elements per slice when searching for the first bad id (bounded temporary memory)


def _open_npy(path: Path, mode: str | None) -> np.ndarray:
    """Load a 1-D integer ``.npy`` after checking its header and that the file holds exactly the bytes the
    header describes (np.load with mmap accepts a file with trailing bytes, and without mmap reports a
    truncated one as a bare "cannot reshape" or "EOF" error)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            else:  # np.save writes 3.0 only for non-latin-1 field names, never for an integer array
                raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
            data_start = handle.tell()
        if dtype.kind not in "iu":
            raise DataError(f"array has dtype {dtype}, expected integers; {_DAMAGED}", path)
        if len(shape) != 1:
            raise DataError(f"array has shape {shape}, expected a 1-D array; {_DAMAGED}", path)
        expected = data_start + shape[0] * dtype.itemsize
        size = path.stat().st_size
        if size != expected:
            what = "truncated" if size < expected else "longer than its header says"
            raise DataError(f"file is {what}: {size} bytes, its header describes {shape[0]} {dtype} values "
                            f"({expected} bytes); {_DAMAGED}", path)
        return np.load(path, mmap_mode=mode, allow_pickle=False)
    except FileNotFoundError as exc:
        raise DataError("prepared split file not found (run `repro prepare` first)", exc.filename) from exc
    except (ValueError, OSError, EOFError) as exc:  # bad magic, unreadable header, I/O error
        raise DataError(f"not a readable .npy array ({exc}); {_DAMAGED}", path) from exc


def check_ragged(ids: np.ndarray, offsets: np.ndarray, ids_path: Path, offsets_path: Path,
                 vocab_size: int | None = None, vocab_source: str = "") -> None:
    """Offsets start at 0, never decrease, end at len(ids); ids lie in [0, vocab_size) when given.

    Vectorised: one comparison over the offsets and a min and a max over the (memory-mapped) ids; the
    position of a bad id is searched for only once one is known to exist.
    """
    if len(offsets) == 0:
        raise DataError(f"offsets array is empty (it needs n+1 entries for n sentences); {_DAMAGED}", offsets_path)
    if offsets[0] != 0:
        raise DataError(f"offsets start at {int(offsets[0])}, expected 0; {_DAMAGED}", offsets_path)
    decreasing = offsets[1:] < offsets[:-1]
    if decreasing.any():
        i = int(np.argmax(decreasing))
        raise DataError(f"offsets decrease at sentence {i}: offset {int(offsets[i + 1])} follows "
                        f"{int(offsets[i])} (offsets must be non-decreasing); {_DAMAGED}", offsets_path)
    if offsets[-1] != len(ids):
        raise DataError(f"offsets end at {int(offsets[-1])} but {ids_path.name} has {len(ids)} ids; {_DAMAGED}",
                        offsets_path)
    if vocab_size is None or len(ids) == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low >= 0 and high < vocab_size:
        return
    position = _first_outside(ids, vocab_size)
    sentence = int(np.searchsorted(offsets, position, side="right")) - 1
    source = f" ({vocab_source})" if vocab_source else ""
    raise DataError(f"sentence {sentence} (0-based), position {position}: token id {int(ids[position])} is outside "
                    f"the vocabulary's valid range [0, {vocab_size}){source}; {_DAMAGED}", ids_path)


def _first_outside(ids: np.ndarray, vocab_size: int) -> int:
    """Index of the first id outside [0, vocab_size) (one is known to exist), slice by slice so that the
    boolean mask never covers the whole array."""
    for start in range(0, len(ids), _CHUNK):
        part = ids[start:start + _CHUNK]
        bad = np.flatnonzero((part < 0) | (part >= vocab_size))
        if len(bad):
            return start + int(bad[0])
    raise AssertionError("no id outside the vocabulary")  # callers check min/max first


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
        self._write(np.concatenate(chunk).astype(np.int32, copy=False))
        self.count += len(chunk)

    def _write(self, ids: np.ndarray) -> None:
        try:
            ids.tofile(self._handle)
        except OSError as exc:
            raise write_failed(self._ids_tmp, exc) from None

    def append_arrays(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        """Append sequences given as one flat id array and their lengths (what workers return)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != len(ids):
            raise ValueError(f"lengths sum to {int(lengths.sum())} but {len(ids)} ids were given")
        if len(lengths):
            self._lengths.append(lengths)
            self._write(np.asarray(ids, dtype=np.int32))
            self.count += len(lengths)

    def close(self) -> RaggedArray:
        try:
            self._handle.close()
        except OSError as exc:  # the buffered tail could not be written
            raise write_failed(self._ids_tmp, exc) from None
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        written, expected = Path(self._ids_tmp).stat().st_size, int(offsets[-1]) * 4
        if written != expected:  # a full disk can cut a write short without an error
            raise write_failed(self._ids_tmp, OSError(f"{expected} bytes requested and {written} written"))
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


def vocab_size(data_dir: str | Path, side: str, meta: dict | None = None) -> tuple[int | None, str]:
    """(size, where it came from) of the ``src`` or ``tgt`` vocabulary: ``meta.json``'s
    ``{side}_vocab_size`` (what the model's embedding is built with), else the line count of
    ``vocab.{side}.txt``; (None, "") when the directory records neither."""
    data_dir = Path(data_dir)
    meta = load_meta(data_dir) if meta is None else meta
    key = f"{side}_vocab_size"
    if key in meta:
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise DataError(f"{key} must be a positive integer, got {value!r}", data_dir / "meta.json")
        return value, f"meta.json {key}"
    path = data_dir / f"vocab.{side}.txt"
    if path.exists():
        with open(path, "rb") as handle:
            return sum(1 for _ in handle), f"{path.name} lines"
    return None, ""


def load_split(data_dir: str | Path, split: str, mmap: bool = True) -> ParallelSplit:
    """One split of a prepared data directory, checked once here (:meth:`RaggedArray.load`): readable
    arrays, consistent offsets, ids within each side's vocabulary, as many source as target sentences."""
    data_dir = Path(data_dir)
    meta = load_meta(data_dir)
    sides = {}
    for side in ("src", "tgt"):
        size, source = vocab_size(data_dir, side, meta)
        sides[side] = RaggedArray.load(data_dir / f"{split}.{side}", mmap, size, source)
    if len(sides["src"]) != len(sides["tgt"]):
        raise DataError(f"{len(sides['src'])} source sentences but {split}.tgt.offsets.npy has "
                        f"{len(sides['tgt'])} target sentences; {_DAMAGED}", data_dir / f"{split}.src.offsets.npy")
    return ParallelSplit(sides["src"], sides["tgt"], split)
