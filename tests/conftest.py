"""Shared fixtures for the data tests (names start with ``data_``)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

_EN = ["the", "cat", "dog", "sees", "a", "big", "red", "house", "runs", "well-known", "man's", "garden"]
_FR = ["le", "chat", "chien", "voit", "une", "grande", "rouge", "maison", "court", "célèbre", "l'homme", "jardin"]


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` small deterministic English/French-looking pairs with punctuation and accents."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        k = rng.randint(2, 9)
        words = rng.sample(range(len(_EN)), k)
        en = " ".join(_EN[w] for w in words).capitalize() + f" {i}."
        fr = " ".join(_FR[w] for w in words).capitalize() + f" {i} !"
        pairs.append((en, fr))
    return pairs


def write_lines(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def data_pairs() -> list[tuple[str, str]]:
    return make_pairs(120)


@pytest.fixture
def data_plain_files(tmp_path, data_pairs) -> tuple[Path, Path]:
    """Aligned gzip files train.en.gz / train.fr.gz of ``data_pairs``."""
    src = write_lines(tmp_path / "train.en.gz", [s for s, _ in data_pairs])
    tgt = write_lines(tmp_path / "train.fr.gz", [t for _, t in data_pairs])
    return src, tgt
