"""A checksummed, resumable download cache built on pooch.

pooch checks the sha256 and only moves a verified file into the cache, but it restarts an interrupted
download from zero; ``ResumingDownloader`` keeps the partial data in ``<fname>.part`` and continues it with
an HTTP ``Range`` request, so a dropped connection costs only the bytes not yet received.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pooch
import requests

from repro.errors import DataError, ReproError

ENV_CACHE = "REPRO_CACHE"


def cache_dir(explicit: str | None = None) -> Path:
    """The download cache: ``explicit`` (a config value), else ``$REPRO_CACHE``, else the OS user cache."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    return Path(pooch.os_cache("seq2seq-repro"))


class ResumingDownloader:
    """A pooch downloader that continues the partial download in ``part`` (restarting when it cannot)."""

    def __init__(self, part: Path, progress: bool = True, timeout: float = 60.0) -> None:
        self.part = part
        self.progress = progress
        self.timeout = timeout

    def __call__(self, url: str, output_file: str, pooch_instance: Any = None) -> None:
        from tqdm.auto import tqdm

        done = self.part.stat().st_size if self.part.exists() else 0
        # identity encoding: byte ranges must count bytes of the file, not of a compressed transfer
        headers = {"Accept-Encoding": "identity"}
        if done:
            headers["Range"] = f"bytes={done}-"
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if done and response.status_code == 416:  # the part is as long as the file or longer: start over
                self.part.unlink()
                self(url, output_file, pooch_instance)
                return
            response.raise_for_status()
            append = response.status_code == 206  # 200: the server ignored the range and sends it all
            start = done if append else 0
            size = int(response.headers.get("Content-Length", 0))
            with open(self.part, "ab" if append else "wb") as out, tqdm(
                total=start + size or None, initial=start, unit="B", unit_scale=True,
                desc=url.rsplit("/", 1)[-1], disable=not self.progress,
            ) as bar:
                for chunk in response.iter_content(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(self.part, output_file)  # pooch checks the hash, then moves it into the cache


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory``: parallel jobs sharing the cache must not write one .part."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def fetch_file(url: str, sha256: str, cache: Path, fname: str, progress: bool = True) -> Path:
    """``cache / fname`` with sha256 ``sha256``, downloaded from ``url`` (resuming a partial download) if needed.

    A cached file with another checksum is downloaded again. A download with the wrong checksum is deleted,
    its .part too, so the next try starts clean.
    """
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f"{fname}.part"
    with _locked(cache):
        try:
            path = pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=fname, path=cache,
                                  downloader=ResumingDownloader(part, progress))
        except ValueError as exc:  # pooch's checksum mismatch: it names the expected and actual hash
            part.unlink(missing_ok=True)
            raise ReproError(f"download of {url} failed verification and was deleted (expected sha256 "
                             f"{sha256}): {exc}") from None
        except requests.HTTPError as exc:
            raise ReproError(f"could not download {url}: the server answered {exc.response.status_code} "
                             f"{exc.response.reason}; check the URL") from None
        except requests.RequestException as exc:
            raise ReproError(f"could not download {url}: {exc}; the partial download is kept in {part} "
                             "and resumes on the next run") from None
    return Path(path)


def verify_file(path: Path, sha256: str) -> Path:
    """``path`` if its sha256 is ``sha256``; else a ``DataError`` naming the file and both hashes."""
    if not path.is_file():
        raise DataError("file not found", path)
    actual = pooch.file_hash(str(path))
    if actual != sha256:
        raise DataError(f"sha256 is {actual} but {sha256} was expected: this is not the expected file "
                        "(a corrupted, truncated or different copy); replace it with the original", path)
    return path
