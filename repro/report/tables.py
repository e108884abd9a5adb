"""Tables as CSV + Markdown + LaTeX, written atomically, each with its caption."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from repro.io import atomic_write

# a learning rate reads in significant digits, not in a table's fixed decimals
RATE_FORMAT = {"final lr": ".4g"}


def write_table(df: pd.DataFrame, prefix: str | Path, caption: str, float_digits: int = 2,
                formats: dict[str, str] | None = None) -> list[Path]:
    """Write ``prefix.csv``, ``prefix.md`` (caption as a paragraph) and ``prefix.tex`` (table env). Numbers
    show ``float_digits`` decimals, except in the columns ``formats`` gives a format spec of their own (a
    learning rate reads in significant digits: ``{"final lr": ".4g"}``)."""
    formats = formats or {}
    floatfmt = [formats.get(str(column), f".{float_digits}f") for column in df.columns]
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = [prefix.with_suffix(".csv"), prefix.with_suffix(".md"), prefix.with_suffix(".tex")]
    with atomic_write(paths[0], encoding="utf-8", newline="") as handle:
        df.to_csv(handle, index=False)
    with atomic_write(paths[1], encoding="utf-8") as handle:
        # tabulate prints None (not NaN) as the missing value
        shown = df.astype(object).where(df.notna(), None)
        handle.write(shown.to_markdown(index=False, floatfmt=floatfmt, missingval="—"))
        handle.write(f"\n\n{caption}\n")
    with atomic_write(paths[2], encoding="utf-8") as handle:
        handle.write(
            df.to_latex(index=False, na_rep="--", float_format=f"%.{float_digits}f", caption=latex_escape(caption),
                        label=f"tab:{prefix.name}", escape=True,
                        formatters={column: ("{:" + spec + "}").format for column, spec in formats.items()
                                    if column in df.columns})
        )
    return paths


def format_mean_std(values: list[float], digits: int = 2) -> str:
    """'mean ± std' over seeds (sample std); a single value is printed alone."""
    import statistics

    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                   "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)
