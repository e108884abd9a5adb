"""The download cache against a local HTTP server that supports Range and can drop a connection."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from repro.data.download import cache_dir, fetch_file, verify_file
from repro.errors import DataError, ReproError


@pytest.fixture
def served_blob(file_server) -> tuple[bytes, str, str]:
    """A 300 kB file on the server: (bytes, url, sha256)."""
    data = os.urandom(300_000)
    (file_server.root / "blob.bin").write_bytes(data)
    return data, f"{file_server.url}/blob.bin", hashlib.sha256(data).hexdigest()


def test_cache_dir_prefers_config_then_env_then_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "env"))
    assert cache_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"
    assert cache_dir(None) == tmp_path / "env"
    monkeypatch.delenv("REPRO_CACHE")
    assert cache_dir(None).name == "seq2seq-repro" and cache_dir(None) != tmp_path / "env"


def test_download_lands_in_cache_and_second_fetch_is_offline(tmp_path, file_server, served_blob):
    data, url, sha = served_blob
    cache = tmp_path / "cache"
    path = fetch_file(url, sha, cache, "blob.bin", progress=False)
    assert path == (cache / "blob.bin").resolve() and path.read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == ["blob.bin"]  # no .part, no temporary file left
    assert fetch_file(url, sha, cache, "blob.bin", progress=False) == path
    assert len(file_server.requests) == 1


def test_interrupted_download_resumes_with_a_range_request(tmp_path, file_server, served_blob):
    data, url, sha = served_blob
    cache = tmp_path / "cache"
    file_server.drop_after = 200_000
    with pytest.raises(ReproError, match="resumes on the next run") as err:
        fetch_file(url, sha, cache, "blob.bin", progress=False)
    assert url in str(err.value)
    part = cache / "blob.bin.part"
    received = part.stat().st_size
    assert 0 < received <= 200_000 and part.read_bytes() == data[:received]
    assert not (cache / "blob.bin").exists()

    path = fetch_file(url, sha, cache, "blob.bin", progress=False)
    assert file_server.requests == [("/blob.bin", None), ("/blob.bin", f"bytes={received}-")]
    assert path.read_bytes() == data and not part.exists()


def test_server_ignoring_range_restarts_the_download(tmp_path, file_server, served_blob):
    data, url, sha = served_blob
    cache = tmp_path / "cache"
    (cache).mkdir()
    (cache / "blob.bin.part").write_bytes(data[:1000])
    file_server.ignore_range = True
    assert fetch_file(url, sha, cache, "blob.bin", progress=False).read_bytes() == data
    assert file_server.requests == [("/blob.bin", "bytes=1000-")]


def test_part_longer_than_the_file_starts_over(tmp_path, file_server, served_blob):
    data, url, sha = served_blob
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.bin.part").write_bytes(b"x" * (len(data) + 5))
    assert fetch_file(url, sha, cache, "blob.bin", progress=False).read_bytes() == data
    assert [r for _, r in file_server.requests] == [f"bytes={len(data) + 5}-", None]


def test_checksum_mismatch_names_url_and_hashes_and_keeps_nothing(tmp_path, file_server, served_blob):
    _, url, sha = served_blob
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(ReproError) as err:
        fetch_file(url, wrong, cache, "blob.bin", progress=False)
    assert url in str(err.value) and wrong in str(err.value) and sha in str(err.value)
    assert list(cache.iterdir()) == []
    # a corrupted .part fails the same way and is removed, so the next try starts clean
    (cache / "blob.bin.part").write_bytes(b"garbage")
    with pytest.raises(ReproError):
        fetch_file(url, sha, cache, "blob.bin", progress=False)
    assert list(cache.iterdir()) == []
    assert fetch_file(url, sha, cache, "blob.bin", progress=False).exists()


def test_corrupted_cached_file_is_downloaded_again(tmp_path, file_server, served_blob):
    data, url, sha = served_blob
    cache = tmp_path / "cache"
    cache.mkdir()
    # flip every bit of the last byte: a fixed replacement byte equals it once in 256 random blobs
    (cache / "blob.bin").write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    assert fetch_file(url, sha, cache, "blob.bin", progress=False).read_bytes() == data
    assert len(file_server.requests) == 1


def test_http_404_is_a_clear_error(tmp_path, file_server):
    cache = tmp_path / "cache"
    url = f"{file_server.url}/missing.gz"
    with pytest.raises(ReproError, match="404") as err:
        fetch_file(url, "0" * 64, cache, "missing.gz", progress=False)
    assert url in str(err.value) and "check the URL" in str(err.value)
    assert list(cache.iterdir()) == []


def test_parallel_fetches_of_one_file_download_it_once(tmp_path, file_server, served_blob):
    data, url, sha = served_blob
    cache = tmp_path / "cache"
    file_server.delay = 0.3  # the second fetch starts while the first one is downloading
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(fetch_file(url, sha, cache, "blob.bin", False)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and all(p.read_bytes() == data for p in results)
    assert len(file_server.requests) == 1


def test_verify_file_names_the_path_and_both_hashes(tmp_path):
    path = tmp_path / "copy.gz"
    path.write_bytes(b"abc")
    sha = hashlib.sha256(b"abc").hexdigest()
    assert verify_file(path, sha) == path
    with pytest.raises(DataError) as err:
        verify_file(path, "1" * 64)
    assert str(path) in str(err.value) and sha in str(err.value) and "1" * 64 in str(err.value)
    with pytest.raises(DataError, match="file not found"):
        verify_file(tmp_path / "absent.gz", sha)
