"""A user's own files: aligned plain text (optionally .gz), tab-separated pairs, or WMT sgm.

Splits not given as files are carved from the training file by a seeded random choice of lines (the rest
stays in train, in file order), so Tatoeba's length-sorted file still yields representative valid/test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from repro.data.sources.base import ParallelSource, SourceSettings, count_lines, zip_aligned
from repro.errors import DataError, ReproError
from repro.io import check_input_file, iter_text_lines

FORMATS = ("plain", "tsv", "sgm")
_SEG = re.compile(r"<seg[^>]*>(.*)</seg>", re.IGNORECASE)


@dataclass
class LocalOptions:
    """Keys of ``data.local``.

    format: ``plain`` (one sentence a line, .src/.tgt files aligned by line, .gz allowed), ``tsv``
        (``src<TAB>tgt[<TAB>more...]`` per line, the Tatoeba/Anki format; give the one file as ``*_src``
        and leave ``*_tgt`` unset), or ``sgm`` (WMT ``<seg id=..>text</seg>``; text stripped and whitespace
        collapsed, sacrebleu's rule).
    train_src, train_tgt, valid_src, valid_tgt, test_src, test_tgt: file paths (valid/test optional).
    tsv_src_column, tsv_tgt_column: 0-based columns of a tsv line (Tatoeba fra.txt: English 0, French 1).
    valid_size, test_size: pairs carved from train (seeded by ``data.seed``) for a split given no file.
    """

    format: str = "plain"
    train_src: str | None = None
    train_tgt: str | None = None
    valid_src: str | None = None
    valid_tgt: str | None = None
    test_src: str | None = None
    test_tgt: str | None = None
    tsv_src_column: int = 0
    tsv_tgt_column: int = 1
    valid_size: int = 3000
    test_size: int = 3000


def read_sgm(path: str | Path) -> Iterator[str]:
    """Segment texts of a WMT sgm file, stripped with whitespace runs collapsed (sacrebleu's rule)."""
    for lineno, line in enumerate(iter_text_lines(path, decompress=True), 1):
        if line.lstrip().lower().startswith("<seg"):
            match = _SEG.search(line)
            if match is None:
                raise DataError("malformed <seg> line (no closing </seg>)", path, lineno)
            yield " ".join(match.group(1).split())


def read_tsv(path: str | Path, src_column: int = 0, tgt_column: int = 1) -> Iterator[tuple[str, str]]:
    need = max(src_column, tgt_column) + 1
    for lineno, line in enumerate(iter_text_lines(path, decompress=True), 1):
        fields = line.split("\t")
        if len(fields) < need:
            raise DataError(
                f"malformed tsv line: expected at least {need} tab-separated fields, found {len(fields)}",
                path, lineno,
            )
        yield fields[src_column], fields[tgt_column]


class LocalSource(ParallelSource):
    name = "local"
    options_type = LocalOptions
    pretokenized = False

    def __init__(self, options: LocalOptions, seed: int = 1) -> None:
        if options.format not in FORMATS:
            raise ReproError(f"data.local.format: unknown format {options.format!r}; choose {', '.join(FORMATS)}")
        for name in ("valid_size", "test_size"):
            if not isinstance(getattr(options, name), int) or getattr(options, name) < 0:
                raise ReproError(f"data.local.{name} must be an integer >= 0, got {getattr(options, name)!r}")
        self.options = options
        self.seed = seed
        self._files: dict[str, tuple[str, str | None]] = {}
        for split in ("train", "valid", "test"):
            src = getattr(options, f"{split}_src")
            tgt = getattr(options, f"{split}_tgt")
            if options.format == "tsv":
                if tgt is not None:
                    raise ReproError(f"data.local.{split}_tgt: a tsv file holds both sides; give only {split}_src")
                if src is not None:
                    self._files[split] = (src, None)
            elif (src is None) != (tgt is None):
                raise ReproError(f"data.local: give both {split}_src and {split}_tgt, or neither")
            elif src is not None:
                self._files[split] = (src, tgt)
        if "train" not in self._files:
            raise ReproError("data.local: train_src (and train_tgt unless format is tsv) is required")
        for split, (src, tgt) in self._files.items():
            for path in (src, tgt):
                if path is not None:
                    check_input_file(path, split)  # a missing file or a directory fails now, not mid-prepare
        self._carve: dict[str, set[int]] | None = None
        self._cache: dict[str, list[tuple[str, str]]] = {}

    @classmethod
    def from_options(cls, options: LocalOptions, settings: SourceSettings) -> LocalSource:
        return cls(options, settings.seed)

    def _read(self, split: str) -> Iterator[tuple[str, str]]:
        src, tgt = self._files[split]
        fmt = self.options.format
        if fmt == "tsv":
            return read_tsv(src, self.options.tsv_src_column, self.options.tsv_tgt_column)
        if fmt == "sgm":
            return zip_aligned(src, tgt, read_sgm(src), read_sgm(tgt))
        return zip_aligned(src, tgt)

    def _carved(self) -> dict[str, set[int]]:
        """Which training line indices go to the splits that have no file of their own."""
        if self._carve is None:
            import numpy as np  # here, not at the top: importing the sources (and so the config) stays light

            missing = [s for s in ("valid", "test") if s not in self._files]
            self._carve = {}
            if missing:
                sizes = {"valid": self.options.valid_size, "test": self.options.test_size}
                src, tgt = self._files["train"]
                if self.options.format == "sgm":
                    n = sum(1 for _ in self._read("train"))
                else:
                    n = count_lines(src)
                    if tgt is not None:
                        n_tgt = count_lines(tgt)
                        if n_tgt != n:
                            raise DataError(
                                f"misaligned parallel files: {src} has {n} lines but {tgt} has {n_tgt}", src)
                want = sum(sizes[s] for s in missing)
                if want >= n:
                    raise DataError(
                        f"{n} pairs are too few to carve {' + '.join(f'{sizes[s]} {s}' for s in missing)} "
                        "pairs and keep a training set; lower data.local.valid_size/test_size", src)
                chosen = np.random.default_rng(self.seed).choice(n, size=want, replace=False)
                start = 0
                for split in missing:
                    self._carve[split] = set(chosen[start : start + sizes[split]].tolist())
                    start += sizes[split]
        return self._carve

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        if split in self._files and split != "train":
            yield from self._read(split)
            return
        carve = self._carved()
        if split == "train":
            # the carved pairs are few (valid_size + test_size): keep them from this pass so that the
            # valid / test passes do not read the whole training file again
            where = {index: name for name, indices in carve.items() for index in indices}
            cache: dict[str, list[tuple[str, str]]] = {name: [] for name in carve}
            for index, pair in enumerate(self._read("train")):
                name = where.get(index)
                if name is None:
                    yield pair
                else:
                    cache[name].append(pair)
            self._cache.update(cache)
        elif split in self._cache:
            yield from self._cache[split]
        else:
            keep = carve[split]
            for index, pair in enumerate(self._read("train")):
                if index in keep:
                    yield pair

    def input_paths(self) -> list[Path]:
        return [Path(path) for files in self._files.values() for path in files if path is not None]

    def describe(self) -> dict:
        info = super().describe()
        info.update(format=self.options.format,
                    files={s: [str(Path(p).resolve()) for p in f if p] for s, f in self._files.items()},
                    carved={s: len(v) for s, v in self._carved().items()})
        return info
