"""The paper's own data (§3.1): Schwenk's 12M-sentence "selected" WMT'14 subset and ntst14.

bitexts.tgz holds ``bitexts.selected/{ep7_pc45,nc9,dev08_11,crawl,ccb2_pc30,un2000_pc34}.{en,fr}.gz``;
dev+test.tgz holds ``dev/ntst1213.{en,fr}`` (newstest2012+2013, the dev set) and ``dev/ntst14.{en,fr}``
(newstest2014, the test set). The text is already tokenized, so it is only split on whitespace.

Downloads are resumable (an HTTP Range request continues ``<file>.part``), checked against an md5 where
one is known, and extracted once (a ``.extracted`` marker records a finished extraction).
"""

from __future__ import annotations

import os
import tarfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from repro.data.sources.base import (
    LengthModel,
    NominalCorpus,
    ParallelSource,
    SourceSettings,
    zip_aligned,
)
from repro.errors import DataError, ReproError

BASE_URL = "http://www-lium.univ-lemans.fr/~schwenk/cslm_joint_paper/data/"
TRAIN_CORPORA = ("ep7_pc45", "nc9", "dev08_11", "crawl", "ccb2_pc30", "un2000_pc34")
DEV_TEST_MD5 = "7d7897317ddd8ba0ae5c5fa7248d3ff5"  # dev+test archive published beside the corpus

# Moses-token statistics measured on the official files (lengths: median, log-sigma; targets / sources).
NEWSTEST2013_LENGTHS = LengthModel(20.0, 0.62, 1.14)
NEWSTEST2014_LENGTHS = LengthModel(22.0, 0.56, 1.14)
# The paper (§3.1): 12M sentences, 304M English and 348M French words: 25.3 English words on average
# (a log-normal with sigma 0.6 and that mean has median 21), 1.145 French words per English word.
PAPER_TRAIN_LENGTHS = LengthModel(21.0, 0.60, 1.145)
NOMINAL = NominalCorpus({"train": 12_000_000, "valid": 6003, "test": 3003},
                        {"train": PAPER_TRAIN_LENGTHS, "valid": NEWSTEST2013_LENGTHS, "test": NEWSTEST2014_LENGTHS},
                        "the paper's 12M pairs and word counts (§3.1); newstest2012+2013 and 2014")


def default_cache_dir() -> Path:
    return Path(os.environ.get("REPRO_CACHE", Path.home() / ".cache" / "repro")) / "schwenk"


@dataclass
class SchwenkOptions:
    """Keys of ``data.schwenk``.

    base_url: where bitexts.tgz and dev+test.tgz live (default: Schwenk's CSLM page).
    cache_dir: download / extraction directory, kept between runs (null = $REPRO_CACHE/schwenk or
        ~/.cache/repro/schwenk). Never inside DATA_DIR, so an interrupted prepare keeps its download.
    train_corpora: which bitexts.selected corpora form the training set (default: all six = 12M pairs).
    valid: dev file stem in dev+test.tgz (default ntst1213); test: test file stem (default ntst14).
    md5: expected md5 per archive; null for an archive skips the check with a warning.
    """

    base_url: str = BASE_URL
    cache_dir: str | None = None
    train_corpora: list[str] = field(default_factory=lambda: list(TRAIN_CORPORA))
    valid: str = "ntst1213"
    test: str = "ntst14"
    md5: dict[str, str | None] = field(
        default_factory=lambda: {"bitexts.tgz": None, "dev+test.tgz": DEV_TEST_MD5}
    )


def md5sum(path: str | Path) -> str:
    import pooch

    return pooch.file_hash(str(path), alg="md5")


def download(url: str, dest: str | Path, md5: str | None = None, progress: bool = True,
             timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` with an HTTP Range request; verify ``md5``.

    The transfer is ``repro.data.download.ResumingDownloader``'s (a server that ignores Range restarts
    from zero). A finished ``dest`` is kept (re-checked against ``md5``). A checksum mismatch deletes the
    bad file and raises ``DataError``.
    """
    import requests

    from repro.data.download import ResumingDownloader

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        part = dest.with_name(dest.name + ".part")
        try:
            ResumingDownloader(part, progress, timeout)(url, str(dest))
        except requests.HTTPError as exc:
            raise ReproError(f"download failed: {url}: HTTP {exc.response.status_code} {exc.response.reason}") from exc
        except requests.RequestException as exc:
            raise ReproError(f"download failed: {url}: {exc} (a rerun resumes from {part})") from exc
    if md5 is None:
        warnings.warn(f"{dest}: no md5 known, integrity not checked", stacklevel=2)
    else:
        actual = md5sum(dest)
        if actual != md5.lower():
            dest.unlink()
            raise DataError(f"md5 mismatch: expected {md5}, got {actual} (file deleted; rerun to download again)",
                            dest)
    return dest


def extract(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` into ``dest`` once (a marker file records success)."""
    marker = dest / f".{archive.name}.extracted"
    if marker.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except tarfile.TarError as exc:
        raise DataError(f"cannot extract archive: {exc}", archive) from exc
    marker.write_text("ok\n")
    return dest


class SchwenkSource(ParallelSource):
    name = "schwenk"
    options_type = SchwenkOptions
    pretokenized = True
    downloads = True

    def __init__(self, options: SchwenkOptions | None = None, src_lang: str = "en", tgt_lang: str = "fr",
                 progress: bool = True) -> None:
        self.options = options or SchwenkOptions()
        if {src_lang, tgt_lang} != {"en", "fr"}:
            raise ReproError(f"schwenk source: languages must be en and fr, got {src_lang} and {tgt_lang}")
        unknown = sorted(set(self.options.train_corpora) - set(TRAIN_CORPORA))
        if unknown:
            raise ReproError(f"data.schwenk.train_corpora: unknown {unknown}; known: {list(TRAIN_CORPORA)}")
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.cache = Path(self.options.cache_dir) if self.options.cache_dir else default_cache_dir()
        self.progress = progress
        self._fetched = False

    @classmethod
    def from_options(cls, options: SchwenkOptions, settings: SourceSettings) -> SchwenkSource:
        return cls(options, settings.src_lang, settings.tgt_lang)

    def _archive(self, name: str) -> Path:
        url = self.options.base_url.rstrip("/") + "/" + name
        path = download(url, self.cache / name, self.options.md5.get(name), progress=self.progress)
        return extract(path, self.cache / "extracted")

    def fetch(self) -> None:
        if not self._fetched:
            self._archive("dev+test.tgz")
            if self.options.train_corpora:
                self._archive("bitexts.tgz")
            self._fetched = True

    def _pair_files(self, split: str) -> list[tuple[Path, Path]]:
        root = self.cache / "extracted"
        if split == "train":
            stems = [root / "bitexts.selected" / c for c in self.options.train_corpora]
            files = [(Path(f"{s}.{self.src_lang}.gz"), Path(f"{s}.{self.tgt_lang}.gz")) for s in stems]
        else:
            stem = root / "dev" / (self.options.valid if split == "valid" else self.options.test)
            files = [(Path(f"{stem}.{self.src_lang}"), Path(f"{stem}.{self.tgt_lang}"))]
        for src, tgt in files:
            for path in (src, tgt):
                if not path.exists():
                    raise DataError("expected file missing from the extracted Schwenk archive", path)
        return files

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        self.fetch()
        for src_path, tgt_path in self._pair_files(split):
            yield from zip_aligned(src_path, tgt_path)

    def describe(self) -> dict:
        info = super().describe()
        info.update(base_url=self.options.base_url, train_corpora=list(self.options.train_corpora),
                    valid=self.options.valid, test=self.options.test)
        return info

    def nominal_corpus(self) -> NominalCorpus:
        return NOMINAL
