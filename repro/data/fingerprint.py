"""Fingerprints of a prepared data directory's files, so a model is only ever used with its own data.

A run records, at training time, a digest of every file it trains on (``TRAINED_ON``: the vocabularies
and the training and validation splits) in each checkpoint and in ``run.json``. Resuming checks the data
directory against it (an "exact resume" on other data is not one), and loading a model checks the run's
``data/`` copy of the vocabularies (another corpus's vocabulary would translate every sentence into the
wrong words, or into nothing). BLAKE2b reads about 1 GB/s: the WMT'14 training arrays take seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from repro.errors import ReproError

VOCABULARIES = ("vocab.src.txt", "vocab.tgt.txt")
TRAINED_ON = (*VOCABULARIES, *(f"{split}.{side}.{part}.npy" for split in ("train", "valid")
                               for side in ("src", "tgt") for part in ("ids", "offsets")))
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(data_dir: str | Path, names: Iterable[str] = TRAINED_ON) -> dict[str, str]:
    """``{file name: digest}`` of the files of ``names`` that ``data_dir`` holds."""
    data_dir = Path(data_dir)
    return {name: file_digest(data_dir / name) for name in names if (data_dir / name).is_file()}


def check_fingerprint(recorded: dict[str, str] | None, data_dir: str | Path, recorded_in: str | Path,
                      advice: str) -> None:
    """Fail with a ``ReproError`` naming every file of ``data_dir`` whose digest differs from the one
    ``recorded`` (in ``recorded_in``) or that is missing. Nothing recorded (a checkpoint from before
    fingerprints): nothing to check."""
    if not recorded:
        return
    actual = fingerprint(data_dir, recorded)
    differ = [name for name in recorded if actual.get(name) != recorded[name]]
    if differ:
        listed = ", ".join(name + ("" if name in actual else " (missing)") for name in differ)
        raise ReproError(f"{data_dir}: {listed}: not the file{'s' if len(differ) > 1 else ''} the model was "
                         f"trained with (fingerprints recorded in {recorded_in}); {advice}")
