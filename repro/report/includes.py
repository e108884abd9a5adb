"""Include blocks: a Markdown page shows committed files verbatim, re-rendered from them.

A block is a line ``<!-- include PATH -->``, the named file's text, and a line ``<!-- end include -->``.
PATH is relative to the repository root (``--root``, by default the current directory), the same
spelling as in the README's commands, e.g. ``<!-- include results/reference/demo/tables/table1.md -->``.
Rendering replaces whatever lies between the two markers with the file's current text, framed by one
blank line on each side, so a page that renders to itself is in sync with its sources:

    python -m repro.report.includes docs/results.md            # rewrite the page (atomically)
    python -m repro.report.includes --check docs/results.md    # exit 1 when it is stale

A missing file, an unterminated block, a nested block or a stray end marker is a ``DataError`` naming
the page and the line. Torch-free: nothing here needs more than the standard library.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from repro.errors import DataError, ReproError
from repro.io import atomic_write

BEGIN = re.compile(r"^\s*<!--\s*include\s+(?P<path>[^\s>]+)\s*-->\s*$")
END = re.compile(r"^\s*<!--\s*end include\s*-->\s*$")
END_MARKER = "<!-- end include -->"


def _included_text(target: str, root: Path, page: object, line: int) -> str:
    path = root / target
    if not path.is_file():
        raise DataError(f"included file {target} does not exist (paths are relative to {root})", page, line)
    text = path.read_text(encoding="utf-8")
    if any(END.match(row) for row in text.splitlines()):
        raise DataError(f"included file {target} contains {END_MARKER!r}, which would end the block early",
                        page, line)
    return text.strip("\n")


def render(text: str, root: Path, page: object = "<text>") -> str:
    """``text`` with every include block's content replaced by the current text of the file it names."""
    out: list[str] = []
    opened: tuple[int, str] | None = None  # (line number, marker line) of the block being replaced
    for number, row in enumerate(text.splitlines(keepends=True), start=1):
        begin, end = BEGIN.match(row), END.match(row)
        if opened is None:
            if end:
                raise DataError(f"{END_MARKER!r} without an opening '<!-- include PATH -->'", page, number)
            out.append(row)
            if begin:
                opened = (number, begin["path"])
            continue
        if begin:
            raise DataError(f"include block opened on line {opened[0]} is not closed before this one "
                            f"(blocks do not nest)", page, number)
        if end:
            body = _included_text(opened[1], root, page, opened[0])
            if not out[-1].endswith("\n"):
                out[-1] += "\n"
            out.append(f"\n{body}\n\n")
            out.append(row)
            opened = None
    if opened is not None:
        raise DataError(f"include block of {opened[1]} is not closed by {END_MARKER!r}", page, opened[0])
    return "".join(out)


def render_file(path: Path, root: Path) -> tuple[str, str]:
    """The page's current text and its rendering."""
    try:
        current = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReproError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return current, render(current, root, page=path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m repro.report.includes",
        description="Re-render the include blocks of Markdown pages from the files they name.")
    parser.add_argument("pages", nargs="+", type=Path, metavar="PAGE.md", help="Markdown page(s) to render")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="directory the included paths are relative to (default: the current "
                             "directory, the repository root)")
    parser.add_argument("--check", action="store_true",
                        help="rewrite nothing; exit 1 when a page differs from its rendering")
    args = parser.parse_args(argv)
    stale: list[Path] = []
    try:
        for page in args.pages:
            current, rendered = render_file(page, args.root)
            if rendered == current:
                continue
            if args.check:
                stale.append(page)
            else:
                with atomic_write(page, encoding="utf-8") as handle:
                    handle.write(rendered)
                print(f"{page}: include blocks re-rendered", file=sys.stderr)
    except ReproError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for page in stale:
        print(f"{page}: stale; run: python -m repro.report.includes {page}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
