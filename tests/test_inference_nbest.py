"""Moses n-best lists: writing, reading (3- and 4-field), errors naming file and line."""

from __future__ import annotations

import pytest

from repro.errors import DataError
from repro.inference.nbest import format_nbest, group_by_sentence, parse_lines, read_nbest


def test_round_trip_and_moses_four_field_format(tmp_path):
    lines = format_nbest([[("le chat", -1.5), ("un chat", -2.25)], [], [("bonjour", -0.125)]])
    assert lines == ["0 ||| le chat ||| -1.500000", "0 ||| un chat ||| -2.250000", "2 ||| bonjour ||| -0.125000"]
    path = tmp_path / "n.txt"
    path.write_text("\n".join(lines) + "\n\n" + "3 ||| le  chien ||| LM: -3 TM: -1 ||| -4.5\n")
    entries = read_nbest(path)
    assert [(e.sent_id, e.hypothesis, e.score) for e in entries] == [
        (0, "le chat", -1.5), (0, "un chat", -2.25), (2, "bonjour", -0.125), (3, "le chien", -4.5)]
    assert entries[3].features == "LM: -3 TM: -1"
    assert sorted(group_by_sentence(entries)) == [0, 2, 3]


@pytest.mark.parametrize("line, problem", [
    ("0 ||| le chat", "expected 'id ||| hypothesis ||| score'"),
    ("x ||| le chat ||| -1", "sentence id 'x' is not an integer"),
    ("0 ||| le chat ||| abc", "score 'abc' is not a number"),
    ("-1 ||| le chat ||| -1", "negative sentence id"),
])
def test_bad_lines(line, problem):
    with pytest.raises(DataError, match=f"f.nbest, line 2: {problem}"):
        parse_lines(["0 ||| ok ||| -1", line], "f.nbest")
