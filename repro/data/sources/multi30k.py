"""Multi30k task 1 English–French (Elliott et al. 2016, 2017): 29,000 / 1,014 / 1,000 image-caption pairs.

The six raw gzip files of github.com/multi30k/dataset (``data/task1/raw``) are downloaded, pinned to one
commit, into the checksummed download cache (``repro.data.download``), or read from ``local_dir``; either
way their sha256 must match the registry below, so every run trains on byte-identical data.
train = ``train``, valid = ``val``, test = ``test_2016_flickr``. The data is for non-commercial research
and education only (the dataset's README).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from repro.data.sources.base import (
    LengthModel,
    NominalCorpus,
    ParallelSource,
    SourceSettings,
    zip_aligned,
)
from repro.errors import DataError, ReproError

COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
BASE_URL = f"https://raw.githubusercontent.com/multi30k/dataset/{COMMIT}/data/task1/raw/"
SPLIT_FILES = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
LANGS = ("en", "fr")
# sha256 of the official files at COMMIT (line counts 29000 / 1014 / 1000, en and fr aligned by line)
SHA256 = {
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
}
# Moses-token lengths measured on the official files (median, log-sigma; targets / sources): train, val
# and test_2016_flickr alike.
_LENGTHS = LengthModel(12.0, 0.30, 1.10)
NOMINAL = NominalCorpus({"train": 29_000, "valid": 1014, "test": 1000},
                        {"train": _LENGTHS, "valid": _LENGTHS, "test": _LENGTHS},
                        "Multi30k task 1 sizes; lengths measured on its official files")


@dataclass
class Multi30kOptions:
    """Keys of ``data.multi30k``.

    base_url: where ``<split>.<lang>.gz`` are downloaded from (default: the official repository at COMMIT).
    local_dir: a directory already holding the six files under their official names; nothing is
        downloaded, but the checksums are still verified.
    cache_dir: the download cache (null = ``$REPRO_CACHE``, else the user cache directory).
    """

    base_url: str = BASE_URL
    local_dir: str | None = None
    cache_dir: str | None = None


class Multi30kSource(ParallelSource):
    name = "multi30k"
    options_type = Multi30kOptions
    location_options = ("base_url", "local_dir", "cache_dir")  # every file is checked against SHA256
    pretokenized = False

    def __init__(self, options: Multi30kOptions | None = None, src_lang: str = "en", tgt_lang: str = "fr",
                 checksums: dict[str, str] | None = None) -> None:
        if {src_lang, tgt_lang} != set(LANGS):
            raise ReproError(f"data.src_lang / data.tgt_lang: multi30k provides en->fr and fr->en only, "
                             f"got {src_lang}->{tgt_lang}")
        self.options = options or Multi30kOptions()
        local = self.options.local_dir
        if local is not None and not Path(local).expanduser().is_dir():
            # checked when the config is validated, so `snakemake -n` already says so
            raise DataError("data.multi30k.local_dir is not a directory; point it at a copy of the six files "
                            "of data/task1/raw/, or remove it to download them", local)
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.checksums = dict(SHA256 if checksums is None else checksums)
        self._paths: dict[str, Path] = {}

    @classmethod
    def from_options(cls, options: Multi30kOptions, settings: SourceSettings) -> Multi30kSource:
        return cls(options, settings.src_lang, settings.tgt_lang)

    @property
    def downloads(self) -> bool:  # type: ignore[override]
        return self.options.local_dir is None

    def _cache(self) -> Path:
        # repro.data.download imports pooch and requests: only when the files are needed
        from repro.data.download import cache_dir

        return cache_dir(self.options.cache_dir) / "multi30k"

    def input_paths(self) -> list[Path]:
        if self.options.local_dir is None:
            return [self._cache()]
        return [Path(self.options.local_dir).expanduser() / fname for fname in self.checksums]

    def fetch(self) -> None:
        """Download (or locate) the six files and verify every checksum."""
        from repro.data.download import fetch_file, verify_file

        local = self.options.local_dir
        cache = self._cache()
        base = self.options.base_url.rstrip("/") + "/"
        for fname, sha256 in self.checksums.items():
            if local is not None:
                self._paths[fname] = verify_file(Path(local).expanduser() / fname, sha256)
            else:
                self._paths[fname] = fetch_file(base + fname, sha256, cache, fname)

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        if not self._paths:
            self.fetch()
        stem = SPLIT_FILES[split]
        return zip_aligned(self._paths[f"{stem}.{self.src_lang}.gz"], self._paths[f"{stem}.{self.tgt_lang}.gz"])

    def describe(self) -> dict:
        info = super().describe()
        where = ({"local_dir": str(Path(self.options.local_dir).expanduser().resolve())}
                 if self.options.local_dir is not None else {"base_url": self.options.base_url})
        info.update(where, commit=COMMIT, sha256=self.checksums)
        return info

    def nominal_corpus(self) -> NominalCorpus:
        return NOMINAL
