"""Moses n-best lists: ``id ||| hypothesis ||| score`` (0-based sentence id, tokenized hypothesis).

Reading also accepts Moses' full format ``id ||| hypothesis ||| feature scores ||| total score`` (the
baseline SMT's 1000-best lists): the last field is the hypothesis' score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from repro.errors import DataError
from repro.io import read_text_lines

SEPARATOR = " ||| "


@dataclass
class NBestEntry:
    """One line of an n-best list; ``features`` holds the Moses feature scores of the 4-field format."""

    sent_id: int
    hypothesis: str
    score: float
    features: str = ""


def format_entry(sent_id: int, hypothesis: str, score: float) -> str:
    return f"{sent_id}{SEPARATOR}{hypothesis}{SEPARATOR}{score:.6f}"


def format_nbest(nbest: Sequence[Sequence[tuple[str, float]]], first_id: int = 0) -> list[str]:
    """Lines for per-sentence lists of (hypothesis, score), best first."""
    return [format_entry(first_id + i, hyp, score) for i, sent in enumerate(nbest) for hyp, score in sent]


def parse_line(line: str, path: object = None, lineno: int | None = None) -> NBestEntry:
    fields = [f.strip() for f in line.rstrip("\n").split("|||")]
    if len(fields) < 3:
        raise DataError("expected 'id ||| hypothesis ||| score' (Moses n-best format)", path, lineno)
    try:
        sent_id = int(fields[0])
    except ValueError:
        raise DataError(f"sentence id {fields[0]!r} is not an integer", path, lineno) from None
    try:
        score = float(fields[-1])
    except ValueError:
        raise DataError(f"score {fields[-1]!r} is not a number", path, lineno) from None
    if sent_id < 0:
        raise DataError(f"negative sentence id {sent_id}", path, lineno)
    return NBestEntry(sent_id, " ".join(fields[1].split()), score, " ||| ".join(fields[2:-1]))


def parse_lines(lines: Iterable[str], path: object = None) -> list[NBestEntry]:
    return [parse_line(line, path, i) for i, line in enumerate(lines, 1) if line.strip()]


def read_nbest(path: str | Path, label: str = "n-best") -> list[NBestEntry]:
    """The entries of an n-best file; errors name the file (and ``label``: the option it came from) and line."""
    return parse_lines(read_text_lines(path, label), path)


def group_by_sentence(entries: Iterable[NBestEntry]) -> dict[int, list[NBestEntry]]:
    groups: dict[int, list[NBestEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.sent_id, []).append(entry)
    return groups
