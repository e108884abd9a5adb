"""Word vocabularies: the K most frequent words of a side; every other word is UNK (paper §3.1)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from repro.data.special_tokens import EOS, EOS_ID, PAD, PAD_ID, SOS, SOS_ID, SPECIALS, UNK, UNK_ID  # noqa: F401
from repro.errors import DataError
from repro.io import atomic_write


class Vocab:
    """Token <-> id map. Ids 0..3 are the specials; words follow by descending training frequency."""

    def __init__(self, words: Sequence[str], counts: Sequence[int] | None = None) -> None:
        self.itos: list[str] = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary has duplicate tokens")
        self.counts: list[int] | None = list(counts) if counts is not None else None

    @classmethod
    def build(cls, counter: Counter, max_size: int) -> Vocab:
        """Keep the ``max_size`` most frequent words (ties broken by the word, for determinism)."""
        ranked = sorted(
            ((w, c) for w, c in counter.items() if w not in SPECIALS), key=lambda wc: (-wc[1], wc[0])
        )[:max_size]
        return cls([w for w, _ in ranked], [c for _, c in ranked])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    pad_id, unk_id, sos_id, eos_id = PAD_ID, UNK_ID, SOS_ID, EOS_ID

    def encode(self, tokens: Iterable[str]) -> list[int]:
        stoi = self.stoi
        return [stoi.get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> list[str]:
        """Ids to tokens; stops at <eos> and drops <pad>/<sos> when ``strip_specials``. UNK stays."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if strip_specials:
                if i == EOS_ID:
                    break
                if i in (PAD_ID, SOS_ID):
                    continue
            out.append(self.itos[i])
        return out

    def frequency_rank(self, token_id: int) -> int:
        """1-based rank of a word in the training vocabulary (UNK counts as one past the last word)."""
        if token_id < len(SPECIALS):
            return len(self.itos) - len(SPECIALS) + 1
        return token_id - len(SPECIALS) + 1

    def save(self, path: str | Path) -> None:
        path = Path(path)
        with atomic_write(path, encoding="utf-8", newline="\n") as handle:
            for token in self.itos:
                handle.write(token + "\n")
        if self.counts is not None:
            with atomic_write(path.with_suffix(".counts"), encoding="utf-8", newline="\n") as handle:
                for token, count in zip(self.itos[len(SPECIALS):], self.counts):
                    handle.write(f"{token}\t{count}\n")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        path = Path(path)
        if not path.exists():
            raise DataError("vocabulary file not found", path)
        tokens = path.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise DataError(f"vocabulary must start with {' '.join(SPECIALS)}", path, 1)
        for lineno, token in enumerate(tokens, 1):
            if not token or any(ch.isspace() for ch in token):
                raise DataError(f"invalid token {token!r} (empty or contains whitespace)", path, lineno)
        counts = None
        counts_path = path.with_suffix(".counts")
        if counts_path.exists():
            counts = [int(line.rsplit("\t", 1)[1]) for line in counts_path.read_text("utf-8").splitlines()]
        return cls(tokens[len(SPECIALS):], counts)


def average_frequency_rank(sentences_ids: Iterable[Sequence[int]], rank_of: Callable[[int], int]) -> np.ndarray:
    """Average word-frequency rank per sentence (paper Figure 3 right); ``rank_of(id) -> rank``."""
    out = []
    for ids in sentences_ids:
        ids = np.asarray(ids)
        out.append(float(np.mean([rank_of(int(i)) for i in ids])) if ids.size else 0.0)
    return np.asarray(out)
