"""The user's guide: the include renderer, docs/results.md in sync with the committed references, the
README's commands as CI runs them, and every relative link pointing at a file that exists."""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from repro.errors import DataError
from repro.report import includes

REPO = Path(__file__).resolve().parents[1]
TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest -q'
DOC_PAGES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]


# ------------------------------------------------------------------------------------- the renderer
def _fixture(tmp_path: Path, page: str, table: str | None = "| a |\n|---|\n| 1 |\n") -> Path:
    (tmp_path / "ref").mkdir()
    if table is not None:
        (tmp_path / "ref" / "t.md").write_text(table, encoding="utf-8")
    path = tmp_path / "page.md"
    path.write_text(page, encoding="utf-8")
    return path


def test_render_replaces_stale_content_and_leaves_the_rest(tmp_path: Path) -> None:
    page = ("# Title\n\nbefore\n<!-- include ref/t.md -->\nold table\nold caption\n<!-- end include -->\n"
            "after\n")
    path = _fixture(tmp_path, page)
    current, rendered = includes.render_file(path, tmp_path)
    assert current == page
    assert rendered == ("# Title\n\nbefore\n<!-- include ref/t.md -->\n\n| a |\n|---|\n| 1 |\n\n"
                        "<!-- end include -->\nafter\n")
    assert includes.render(rendered, tmp_path) == rendered  # a rendered page renders to itself


def test_main_rewrites_the_page_and_check_reports_staleness(tmp_path: Path, monkeypatch) -> None:
    path = _fixture(tmp_path, "<!-- include ref/t.md -->\nstale\n<!-- end include -->\n")
    monkeypatch.chdir(tmp_path)
    assert includes.main(["--check", "page.md"]) == 1
    assert path.read_text(encoding="utf-8").count("stale") == 1  # --check writes nothing
    assert includes.main(["page.md"]) == 0
    assert "stale" not in path.read_text(encoding="utf-8")
    assert includes.main(["--check", "page.md"]) == 0
    (tmp_path / "ref" / "t.md").write_text("| b |\n|---|\n| 2 |\n", encoding="utf-8")
    assert includes.main(["--check", "page.md"]) == 1  # the source changed: the page is stale again


def test_missing_file_names_the_page_and_line(tmp_path: Path) -> None:
    path = _fixture(tmp_path, "text\n\n<!-- include ref/absent.md -->\n<!-- end include -->\n")
    with pytest.raises(DataError, match=r"page\.md, line 3: included file ref/absent\.md does not exist"):
        includes.render_file(path, tmp_path)


def test_unterminated_block_names_the_page_and_line(tmp_path: Path) -> None:
    path = _fixture(tmp_path, "text\n<!-- include ref/t.md -->\nno end marker\n")
    with pytest.raises(DataError, match=r"page\.md, line 2: include block of ref/t\.md is not closed"):
        includes.render_file(path, tmp_path)


def test_nested_block_and_stray_end_marker_are_errors(tmp_path: Path) -> None:
    nested = "<!-- include ref/t.md -->\n<!-- include ref/t.md -->\n<!-- end include -->\n"
    with pytest.raises(DataError, match=r"line 2: include block opened on line 1 is not closed"):
        includes.render(nested, tmp_path, page="p.md")
    with pytest.raises(DataError, match=r"p\.md, line 2: .*without an opening"):
        includes.render("text\n<!-- end include -->\n", tmp_path, page="p.md")


def test_main_reports_errors_as_one_line_with_status_2(tmp_path: Path, monkeypatch, capsys) -> None:
    _fixture(tmp_path, "<!-- include ref/absent.md -->\n<!-- end include -->\n")
    monkeypatch.chdir(tmp_path)
    assert includes.main(["page.md"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: page.md, line 1: included file ref/absent.md does not exist")


# ------------------------------------------------------------------------------------------- the docs
def test_results_page_is_in_sync_with_the_committed_references() -> None:
    current, rendered = includes.render_file(REPO / "docs" / "results.md", REPO)
    assert current.count("<!-- include results/reference/") >= 10
    assert rendered == current, "docs/results.md is stale: run python -m repro.report.includes docs/results.md"


def _bash_blocks(text: str) -> list[list[str]]:
    return [block.strip("\n").splitlines() for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL)]


def test_readme_is_short_and_starts_with_the_command_ci_runs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 160
    first = _bash_blocks(readme)[0]
    assert len(first) == 2
    commands = [line.split("#", 1)[0].rstrip() for line in first]
    assert commands == ["pip install -e . && snakemake --cores all", TEST_COMMAND]
    assert readme.index("```bash") < readme.index("\n## ")  # right after the title, before any section
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert any(line.startswith(TEST_COMMAND) for line in ci_lines), ".ci/run no longer runs the README's command"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)  # code is not links
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = [match.group(1) for match in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def _missing_links(page: Path) -> list[str]:
    """Relative link targets of ``page`` (resolved from its directory, anchors dropped) that do not exist."""
    return [t for t in _relative_links(page) if not (page.parent / t.split("#", 1)[0]).exists()]


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_to_a_file_that_exists(page: Path) -> None:
    missing = _missing_links(page)
    assert not missing, f"{page.relative_to(REPO)}: links to missing files: {missing}"


def test_the_link_checker_sees_links_and_catches_a_broken_one(tmp_path: Path) -> None:
    assert "docs/results.md" in _relative_links(REPO / "README.md")
    assert "../results/reference/demo/runs.csv" in _relative_links(REPO / "docs" / "results.md")
    (tmp_path / "there.md").write_text("x\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#a) [gone](gone.md) ![img](img/x.png) [web](https://example.org) [a](#b)\n"
                    "```bash\n[not a link](in-code.md)\n```\n", encoding="utf-8")
    assert _missing_links(page) == ["gone.md", "img/x.png"]


def test_a_table1_bleu_recomputed_with_stock_sacrebleu_matches_the_table(hang_ceiling_s) -> None:
    """docs/results.md's 'Records' commands, run as written in the demo reference's records, print the
    number the page states, which is Table 1's (rounded as the command prints it)."""
    page = (REPO / "docs/results.md").read_text(encoding="utf-8")
    section = page.split("### Records\n", 1)[1].split("\n### ", 1)[0]
    commands = re.findall(r"^(sacrebleu .+?)\s+# (.+): ([\d.]+)$", section, re.MULTILINE)
    assert [column for _, column, _ in commands] == ["sacreBLEU", "BLEU (paper's way)"]
    reference = REPO / "results/reference/demo"
    with (reference / "tables/table1.csv").open(encoding="utf-8") as table:
        row = next(r for r in csv.DictReader(table) if r["method"] == "Single reversed LSTM, beam size 12")
    for command, column, stated in commands:
        args = shlex.split(command)[1:]  # the sacrebleu command line, run by this Python's sacrebleu
        proc = subprocess.run([sys.executable, "-m", "sacrebleu", *args], cwd=reference / "records",
                              capture_output=True, text=True, timeout=hang_ceiling_s)
        assert proc.returncode == 0, proc.stderr
        assert float(proc.stdout) == float(stated) == round(float(row[column]), 2), (command, proc.stdout)
