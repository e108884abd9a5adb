"""The multi30k source, served in the official layout by a local HTTP server (no internet)."""

from __future__ import annotations

import hashlib
import json
import shutil
from typing import Any

import pytest

from repro.data.config import PrepareConfig, make_source
from repro.data.prepare import prepare
from repro.data.sources.multi30k import BASE_URL, COMMIT, SHA256, Multi30kOptions, Multi30kSource
from repro.errors import DataError, ReproError

SIZES = {"train": 40, "val": 6, "test_2016_flickr": 5}
SPLIT_OF = {"train": "train", "valid": "val", "test": "test_2016_flickr"}


@pytest.fixture
def served(file_server, make_pairs, write_lines) -> tuple[Any, dict[str, list[tuple[str, str]]], dict[str, str], str]:
    """The six fixture files under ``data/task1/raw``: (server, pairs by file stem, sha256s, base_url)."""
    raw = file_server.root / "data" / "task1" / "raw"
    raw.mkdir(parents=True)
    pairs, checksums = {}, {}
    for seed, (stem, n) in enumerate(SIZES.items()):
        pairs[stem] = make_pairs(n, seed)
        for index, lang in enumerate(("en", "fr")):
            path = write_lines(raw / f"{stem}.{lang}.gz", [pair[index] for pair in pairs[stem]])
            checksums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return file_server, pairs, checksums, f"{file_server.url}/data/task1/raw/"


def test_official_registry_is_pinned_to_the_commit():
    assert sorted(SHA256) == sorted(f"{s}.{lang}.gz" for s in SIZES for lang in ("en", "fr"))
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in SHA256.values())
    assert BASE_URL == f"https://raw.githubusercontent.com/multi30k/dataset/{COMMIT}/data/task1/raw/"
    assert Multi30kSource().checksums == SHA256 and Multi30kOptions().base_url == BASE_URL


def test_fetch_downloads_verifies_and_yields_aligned_pairs(tmp_path, served, monkeypatch):
    server, pairs, checksums, base_url = served
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "cache"))
    source = Multi30kSource(Multi30kOptions(base_url=base_url), checksums=checksums)
    source.fetch()
    cached = tmp_path / "cache" / "multi30k"
    assert sorted(p.name for p in cached.iterdir()) == sorted(checksums)
    assert len(server.requests) == 6
    for split, stem in SPLIT_OF.items():
        assert list(source.iter_pairs(split)) == pairs[stem]
    reverse = Multi30kSource(Multi30kOptions(base_url=base_url.rstrip("/")), "fr", "en", checksums)
    assert list(reverse.iter_pairs("valid")) == [(fr, en) for en, fr in pairs["val"]]
    assert len(server.requests) == 6  # the second source found everything in the cache
    info = reverse.describe()
    assert info["name"] == "multi30k" and info["commit"] == COMMIT
    assert info["sha256"] == checksums and info["base_url"] == base_url.rstrip("/")


def test_a_wrong_served_file_fails_naming_the_url(tmp_path, served):
    _, _, checksums, base_url = served
    checksums = dict(checksums, **{"val.fr.gz": "f" * 64})
    source = Multi30kSource(Multi30kOptions(base_url=base_url, cache_dir=str(tmp_path / "c")), checksums=checksums)
    with pytest.raises(ReproError, match=r"val\.fr\.gz") as err:
        source.fetch()
    assert f"{base_url}val.fr.gz" in str(err.value) and "f" * 64 in str(err.value)
    assert "val.fr.gz" not in {p.name for p in (tmp_path / "c" / "multi30k").iterdir()}


def test_local_dir_is_read_without_downloading_and_still_verified(tmp_path, served, write_lines):
    server, pairs, checksums, _ = served
    local = tmp_path / "copy"
    shutil.copytree(server.root / "data" / "task1" / "raw", local)
    options = Multi30kOptions(base_url="http://127.0.0.1:9/unused/", local_dir=str(local),
                              cache_dir=str(tmp_path / "c"))
    source = Multi30kSource(options, checksums=checksums)
    assert list(source.iter_pairs("test")) == pairs["test_2016_flickr"]
    assert server.requests == [] and not (tmp_path / "c").exists()
    assert source.describe()["local_dir"] == str(local.resolve())

    write_lines(local / "train.fr.gz", [fr for _, fr in pairs["train"]][:-1])  # a truncated copy
    with pytest.raises(DataError, match="sha256") as err:
        Multi30kSource(options, checksums=checksums).fetch()
    assert str(local / "train.fr.gz") in str(err.value)
    (local / "train.fr.gz").unlink()
    with pytest.raises(DataError, match="file not found"):
        Multi30kSource(options, checksums=checksums).fetch()


def test_only_english_french_directions():
    for src, tgt in (("en", "de"), ("en", "en"), ("de", "fr")):
        with pytest.raises(ReproError, match="en->fr and fr->en only"):
            Multi30kSource(src_lang=src, tgt_lang=tgt)


def test_make_source_reads_the_config_section(tmp_path):
    config = PrepareConfig.from_dict({"source": "multi30k", "tgt_lang": "en", "src_lang": "fr",
                                      "multi30k": {"local_dir": str(tmp_path), "cache_dir": "/c"}})
    source = make_source(config)
    assert isinstance(source, Multi30kSource) and (source.src_lang, source.tgt_lang) == ("fr", "en")
    assert source.options == Multi30kOptions(local_dir=str(tmp_path), cache_dir="/c")
    assert make_source(PrepareConfig(source="multi30k")).options.base_url == BASE_URL
    with pytest.raises(ReproError, match=r"data\.multi30k") as err:
        make_source(PrepareConfig(source="multi30k", multi30k={"base_ur": "http://x/"}))
    assert "base_ur" in str(err.value)


def test_prepare_end_to_end_on_the_served_files(tmp_path, served, monkeypatch):
    _, pairs, checksums, base_url = served
    monkeypatch.setattr("repro.data.sources.multi30k.SHA256", checksums)  # the fixture files as the registry
    config = PrepareConfig(source="multi30k", workers=1, max_len=None, max_len_ratio=None,
                           multi30k={"base_url": base_url, "cache_dir": str(tmp_path / "cache")})
    out = tmp_path / "data"
    stats = prepare(config, out, progress=False)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["source"] == "multi30k" and meta["splits"] == {"train": 40, "valid": 6, "test": 5}
    assert PrepareConfig.from_dict(meta["config"]) == config
    test_fr = (out / "test.raw.tgt").read_text(encoding="utf-8").splitlines()
    assert test_fr == [fr for _, fr in pairs["test_2016_flickr"]]
    assert stats["source"]["sha256"] == checksums and stats["source"]["base_url"] == base_url


def test_a_local_dir_that_does_not_exist_is_an_error_when_the_source_is_built(tmp_path):
    from repro.errors import DataError

    with pytest.raises(DataError, match="nope: data.multi30k.local_dir is not a directory"):
        Multi30kSource(Multi30kOptions(local_dir=str(tmp_path / "nope")))
