"""repro.layout: every path named once, and the roots a job finds from its own files."""

from __future__ import annotations

import pytest

from repro.layout import Layout, RecordsLayout, ResultsLayout, root_of


@pytest.mark.parametrize("root", ["work/demo", "/scratch/x/work/demo", ".snakemake/storage/s3/bucket/work/demo"])
def test_root_of_gives_back_the_root_of_any_file_of_a_layout(root: str) -> None:
    layout, relative = Layout(root), Layout("")
    assert root_of(layout.step_config("report"), relative.step_config("report")) == root
    assert root_of(layout.records.run("reversed-s1"), RecordsLayout().run("reversed-s1")) == layout.records.root
    assert root_of(layout.records.data, RecordsLayout().data) == layout.records.root
    results = ResultsLayout(root.replace("work", "results"))
    assert root_of(f"{results.table('table1')}.csv", f"{ResultsLayout('').table('table1')}.csv") == results.root


def test_root_of_a_file_in_the_working_directory_is_it() -> None:
    assert root_of("data.json", RecordsLayout().data) == "."


def test_root_of_refuses_a_file_that_is_not_the_named_one() -> None:
    with pytest.raises(ValueError, match="is not the file runs/reversed-s2.json"):
        root_of("work/demo/records/runs/reversed-s1.json", RecordsLayout().run("reversed-s2"))
    with pytest.raises(ValueError):  # a name must match whole path components
        root_of("work/demo/xdata.json", RecordsLayout().data)
