"""Tables come out as CSV, Markdown and LaTeX with the caption, missing values marked."""

from __future__ import annotations

import pandas as pd

from repro.report.tables import format_mean_std, latex_escape, write_table


def test_write_table_three_formats(tmp_path):
    df = pd.DataFrame({"method": ["Single reversed LSTM & beam 12", "x"], "paper": [30.59, None],
                       "this run": [12.345, 3.0]})
    paths = write_table(df, tmp_path / "tables" / "table1", "BLEU 50% of_it")
    assert [p.name for p in paths] == ["table1.csv", "table1.md", "table1.tex"]
    assert pd.read_csv(paths[0])["this run"].tolist() == [12.345, 3.0]
    md = paths[1].read_text()
    assert "| Single reversed LSTM & beam 12 |" in md and "12.35" in md and "—" in md and "nan" not in md
    assert md.rstrip().endswith("BLEU 50% of_it")
    tex = paths[2].read_text()
    assert r"\caption{BLEU 50\% of\_it}" in tex and r"LSTM \& beam" in tex and "--" in tex


def test_format_mean_std():
    assert format_mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00"
    assert format_mean_std([4.0]) == "4.00"
    assert format_mean_std([]) == "—"
    assert latex_escape("a_b&c") == r"a\_b\&c"


def test_a_column_with_a_format_of_its_own_keeps_its_significant_digits(tmp_path):
    df = pd.DataFrame({"perplexity": [3.68312, None], "final lr": [0.0003125, 0.005]})
    write_table(df, tmp_path / "t", "caption", formats={"final lr": ".4g"})
    md = (tmp_path / "t.md").read_text()
    assert "0.0003125" in md and "3.68 " in md and "3.68312" not in md
    tex = (tmp_path / "t.tex").read_text()
    assert "3.68 & 0.0003125" in tex and "-- & 0.005" in tex
    assert pd.read_csv(tmp_path / "t.csv")["final lr"].tolist() == [0.0003125, 0.005]
