"""A finished run against the committed reference of its experiment: every headline number, every verdict.

The headline numbers are the cells of the tables (``tables/*.csv``: Table 1, the reversal and beam
tables, the ablation tables) and the claims' verdicts (``claims.json``). Cost columns (train hours,
tokens/s, device) are not compared, since wall time is not a result, nor are the columns quoting the paper.

What to expect is decided from the two runs' provenance (``provenance.json``): on the same kind of CPU
with the same torch and thread count, training and decoding are deterministic for a seed, so every number
must be identical. Anywhere else (another CPU type, a GPU, another torch) floating-point sums run in
another order and a model trained to convergence ends at another optimum, as another seed would (the
docs/determinism.md gives the measured size of it). There, the verdicts must agree; each number's difference is
listed, and marked close when within ``TOLERANCE``, for the reader to judge.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from repro.errors import ReproError
from repro.io import atomic_write
from repro.layout import AUDIT, CLAIMS, COMPARISON, FIGURES, PROVENANCE, RECORDS, RUNS, TABLES
from repro.train.run_info import RunInfo

# Where identical numbers cannot be expected, a difference this small is marked close: BLEU-like scores
# (BLEU, sacreBLEU, chrF, differences and their intervals) within this many points; perplexities within
# this fraction; counts of empty translations within this many sentences; p-values within this much.
# It informs, it does not decide: on another platform only the verdicts must agree.
TOLERANCE = {"score": 1.0, "perplexity": 0.05, "empty": 5, "p": 0.05}
# Columns that report what a run cost, not what it measured.
COST_MARKERS = ("hours", "tokens/s", "device")
# Columns that quote the paper (its numbers, where they come from), the same in every run.
QUOTED = ("paper", "note")
# What must match for a run to be expected to reproduce the reference bit for bit.
PLATFORM_KEYS = ("device_type", "device_name", "torch", "num_threads")
# What a platform record holds: where the run trained (PLATFORM_KEYS, from run.json's environment) and in
# which precision (run.json's bf16, as runs.csv's dtype): either changes every rounding, so either makes
# the numbers a new draw.
RECORD_KEYS = (*PLATFORM_KEYS, "dtype")
CLAIMS_JSON = f"{CLAIMS}.json"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Difference:
    table: str
    row: str
    column: str
    reference: str
    run: str
    within_tolerance: bool


@dataclass
class Comparison:
    experiment: str
    reference: str
    expectation: str  # "identical" (the reference's platform), "verdicts" (another platform) or "no reference"
    reason: str
    compared: int = 0
    identical: int = 0
    differences: list[Difference] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # tables, rows, columns or claims on one side only
    verdicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.expectation == "no reference":
            return "no reference"
        if self.missing or any(not v["same"] for v in self.verdicts):
            return "differs"
        if not self.differences:
            return "identical"
        return "differs" if self.expectation == "identical" else "verdicts agree"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, **asdict(self), "tolerance": TOLERANCE}


def provenance(infos: list[RunInfo], repo: Path | None = None) -> dict[str, Any]:
    """Where and with what code the runs were made: the platform each run.json records, and the git commit."""
    platforms = []
    for info in infos:
        platform = {key: info.environment.get(key) for key in PLATFORM_KEYS}
        platform["dtype"] = info.dtype
        if platform not in platforms:
            platforms.append(platform)
    return {"platforms": platforms, "code": code_version(repo), "runs": len(infos)}


def code_version(repo: Path | None = None) -> dict[str, Any]:
    from repro import __version__

    version: dict[str, Any] = {"repro": __version__, "commit": None, "modified": None}
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                                  timeout=30).stdout.strip()

        version["commit"] = git("rev-parse", "HEAD")
        version["modified"] = bool(git("status", "--porcelain", "--untracked-files=no", "--", "repro"))
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout (an installed package): the version string is all there is
    return version


def expectation(run: dict[str, Any], reference: dict[str, Any] | None) -> tuple[str, str]:
    """("identical" | "verdicts", why) from the two provenance records."""
    if reference is None:
        return "verdicts", "the reference does not record its platform"
    ours, theirs = run.get("platforms") or [], reference.get("platforms") or []
    if len(ours) == 1 and ours == theirs and all(ours[0].get(k) is not None for k in RECORD_KEYS):
        platform = ours[0]
        return "identical", (f"same platform as the reference ({_platforms([platform])}) and the same seeds: "
                             "CPU training and decoding are deterministic, so every number must be identical")
    return "verdicts", (f"another platform or precision (this run: {_platforms(ours)}; reference: "
                        f"{_platforms(theirs)}): "
                        "floating-point sums run in another order and converged models end at other optima, "
                        "as with another seed, so the verdicts must agree and the numbers are a new draw")


def compare(results: Path, reference: Path, experiment: str) -> Comparison:
    """Compare ``results`` (this run's results directory) with ``reference`` (the committed one)."""
    results, reference = Path(results), Path(reference)
    if not (reference / TABLES).is_dir():
        return Comparison(experiment, str(reference), "no reference",
                          f"there is no committed reference for experiment {experiment!r} ({reference})")
    ours = _read_json(results / PROVENANCE)
    if ours is None:
        raise ReproError(f"{results / PROVENANCE}: missing; write it first (repro report compare does)")
    theirs = _read_json(reference / PROVENANCE)
    mode, reason = expectation(ours, theirs)
    comparison = Comparison(experiment, str(reference), mode, reason + _code_note(ours, theirs))
    ref_tables = {p.stem: p for p in sorted((reference / TABLES).glob("*.csv"))}
    run_tables = {p.stem: p for p in sorted((results / TABLES).glob("*.csv"))}
    comparison.missing += [f"table {name}: only in the reference" for name in ref_tables.keys() - run_tables.keys()]
    comparison.missing += [f"table {name}: only in this run" for name in run_tables.keys() - ref_tables.keys()]
    for name in sorted(ref_tables.keys() & run_tables.keys()):
        _compare_table(comparison, name, pd.read_csv(ref_tables[name], dtype=str, keep_default_na=False),
                       pd.read_csv(run_tables[name], dtype=str, keep_default_na=False))
    _compare_claims(comparison, _read_json(reference / CLAIMS_JSON), _read_json(results / CLAIMS_JSON))
    return comparison


def _compare_table(comparison: Comparison, name: str, ref: pd.DataFrame, run: pd.DataFrame) -> None:
    key = ref.columns[0]
    if run.columns[0] != key:
        comparison.missing.append(f"table {name}: first column {run.columns[0]!r} instead of {key!r}")
        return
    ref_rows, run_rows = _rows(ref), _rows(run)
    comparison.missing += [f"table {name}: row {r!r} only in the reference" for r in ref_rows.keys() - run_rows.keys()]
    comparison.missing += [f"table {name}: row {r!r} only in this run" for r in run_rows.keys() - ref_rows.keys()]
    columns = [c for c in ref.columns[1:] if _measured(c)]
    comparison.missing += [f"table {name}: column {c!r} only in the reference" for c in columns if c not in run.columns]
    comparison.missing += [f"table {name}: column {c!r} only in this run" for c in run.columns[1:]
                           if c not in ref.columns and _measured(c)]
    for row in (r for r in ref_rows if r in run_rows):
        for column in (c for c in columns if c in run.columns):
            theirs, mine = ref_rows[row][column], run_rows[row][column]
            comparison.compared += 1
            if theirs == mine:
                comparison.identical += 1
            else:
                comparison.differences.append(Difference(name, row, column, theirs, mine,
                                                         _within(theirs, mine, _kind(column))))


def _compare_claims(comparison: Comparison, ref: list[dict] | None, run: list[dict] | None) -> None:
    if ref is None and run is None:
        return
    if ref is None or run is None:
        side = "this run" if ref is None else "the reference"
        comparison.missing.append(f"{CLAIMS_JSON}: only in {side} (verdicts not compared)")
        return
    theirs = {c["claim"]: c["verdict"] for c in ref}
    mine = {c["claim"]: c["verdict"] for c in run}
    comparison.missing += [f"claim {c!r}: only in the reference" for c in theirs if c not in mine]
    comparison.missing += [f"claim {c!r}: only in this run" for c in mine if c not in theirs]
    for claim in (c for c in mine if c in theirs):
        same = theirs[claim] == mine[claim]
        comparison.verdicts.append({"claim": claim, "reference": theirs[claim], "run": mine[claim], "same": same})
        comparison.compared += 1
        comparison.identical += same
        if not same:
            comparison.differences.append(Difference(CLAIMS_JSON, claim, "verdict", theirs[claim], mine[claim], False))


def _measured(column: str) -> bool:
    """Whether a column holds what the run measured (not its cost, not a quote of the paper)."""
    return not any(m in column for m in COST_MARKERS) and not column.lower().startswith(QUOTED)


def _rows(table: pd.DataFrame) -> dict[str, dict[str, str]]:
    key = table.columns[0]
    return {str(record[key]): record for record in table.to_dict("records")}


def _kind(column: str) -> str:
    lowered = column.lower()
    if "perplexity" in lowered:
        return "perplexity"
    if "empty" in lowered:
        return "empty"
    if lowered == "p" or lowered.startswith("p ("):
        return "p"
    return "score"


def _within(theirs: str, mine: str, kind: str) -> bool:
    """Whether every number in two cells agrees within the tolerance of ``kind`` (text around them must match)."""
    if _NUMBER.sub("#", theirs) != _NUMBER.sub("#", mine):
        return False
    ours, reference = [float(x) for x in _NUMBER.findall(mine)], [float(x) for x in _NUMBER.findall(theirs)]
    # a perplexity's tolerance is relative to the cell's largest number (the mean of "mean ± std")
    limit = TOLERANCE[kind] * (max(map(abs, reference), default=0.0) if kind == "perplexity" else 1.0)
    return all(math.isclose(a, b, rel_tol=0, abs_tol=limit + 1e-12) for a, b in zip(reference, ours, strict=True))


def _code_note(run: dict[str, Any], reference: dict[str, Any] | None) -> str:
    """A warning when the two were made with different code, where a difference may come from."""
    ours, theirs = run.get("code") or {}, (reference or {}).get("code") or {}
    if ours.get("commit") and ours.get("commit") == theirs.get("commit") and not ours.get("modified"):
        return ""
    def name(code: dict[str, Any]) -> str:
        commit = code.get("commit")
        return (commit[:10] if commit else "an unrecorded commit") + (" with local changes" if code.get("modified") else "")
    return f"; the reference was made with code {name(theirs)}, this run with {name(ours)}, so a difference may also come from the code"


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _platforms(platforms: list[dict[str, Any]]) -> str:
    if not platforms:
        return "not recorded"
    return "; ".join(f"{p.get('device_type')}: {p.get('device_name')}, torch {p.get('torch')}, "
                     f"{p.get('num_threads')} thread(s), {p.get('dtype') or 'precision not recorded'}"
                     for p in platforms)


def summary(comparison: Comparison) -> str:
    """The one paragraph a user reads at the end of a run."""
    c = comparison
    if c.status == "no reference":
        return f"Reference check: {c.reason}; nothing to compare."
    close = sum(1 for d in c.differences if d.within_tolerance)
    changed = sum(1 for v in c.verdicts if not v["same"])
    head = {
        "identical": f"IDENTICAL to the committed reference: all {c.compared} headline numbers and verdicts.",
        "verdicts agree": f"VERDICTS AGREE with the committed reference: all {len(c.verdicts)} verdicts the same; "
                          f"of the numbers, {c.identical - len(c.verdicts)} identical, {close} close and "
                          f"{len(c.differences) - close} further apart.",
        "differs": f"DIFFERS from the committed reference: {c.identical} of {c.compared} headline numbers and "
                   f"verdicts identical, {len(c.differences)} different ({close} of them close, {changed} "
                   f"verdict{'' if changed == 1 else 's'} changed), {len(c.missing)} missing on one side.",
    }[c.status]
    expected = {"identical": "identical numbers", "verdicts": "the same verdicts"}[c.expectation]
    return f"Reference check ({c.reference}): {head}\n{verdict_agreement(c)}\nExpected: {expected} — {c.reason}."


def verdict_agreement(comparison: Comparison) -> str:
    """'Verdicts: k of n agree', naming the claims that agree and those that changed."""
    agree = [v["claim"] for v in comparison.verdicts if v["same"]]
    changed = [f"{v['claim']} ({v['reference']} → {v['run']})" for v in comparison.verdicts if not v["same"]]
    text = f"Verdicts: {len(agree)} of {len(comparison.verdicts)} agree"
    text += f" ({', '.join(agree)})" if agree else ""
    return text + (f"; changed: {', '.join(changed)}." if changed else ".")


def to_markdown(comparison: Comparison, limit: int = 200) -> str:
    c = comparison
    lines = [f"# This run of '{c.experiment}' against the committed reference", "", summary(c), ""]
    if c.status != "no reference":
        tol = TOLERANCE
        lines += ["On the reference's platform every number must be identical. Elsewhere (another CPU type, a "
                  "GPU, another torch) converged models end at other optima, as with another seed: the verdicts "
                  "must agree, and a different number is marked close when within BLEU, sacreBLEU, chrF and BLEU "
                  f"differences ±{tol['score']} points, perplexities ±{tol['perplexity']:.0%}, empty translations "
                  f"±{tol['empty']}, p-values ±{tol['p']}. Cost columns (hours, tokens/s, device) and the paper's "
                  "own numbers are not compared.", ""]
    if c.missing:
        lines += ["## Missing on one side", ""] + [f"- {m}" for m in c.missing] + [""]
    if c.verdicts:
        lines += ["## Verdicts", "", "| claim | reference | this run |", "|---|---|---|"]
        lines += [f"| {v['claim']} | {v['reference']} | {v['run']}{'' if v['same'] else ' (changed)'} |"
                  for v in c.verdicts] + [""]
    if c.differences:
        lines += ["## Different numbers", "", "| table | row | column | reference | this run | close |",
                  "|---|---|---|---|---|---|"]
        for d in c.differences[:limit]:
            cells = [d.table, d.row, d.column, d.reference, d.run, "yes" if d.within_tolerance else "no"]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        if len(c.differences) > limit:
            lines.append(f"\n({len(c.differences) - limit} more in comparison.json)")
    return "\n".join(lines) + "\n"


def check_results(results: Path) -> None:
    if not (Path(results) / TABLES).is_dir():
        raise ReproError(f"{results}: holds no {TABLES}/ to compare; run the experiment first "
                         "(snakemake --cores all writes them)")


def write_comparison(results: Path, reference: Path, experiment: str, infos: list[RunInfo],
                     repo: Path | None = None) -> Comparison:
    """Write ``provenance.json``, ``comparison.json`` and ``comparison.md`` into ``results``."""
    results = Path(results)
    check_results(results)
    record = provenance(infos, repo)
    with atomic_write(results / PROVENANCE, encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    comparison = compare(results, reference, experiment)
    with atomic_write(results / f"{COMPARISON}.json", encoding="utf-8") as handle:
        json.dump(comparison.to_dict(), handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    with atomic_write(results / f"{COMPARISON}.md", encoding="utf-8") as handle:
        handle.write(to_markdown(comparison))
    return comparison


# What a committed reference holds: the run's tables, figures, claims, runs, its provenance and its records.
PUBLISHED = (TABLES, FIGURES, f"{CLAIMS}.md", CLAIMS_JSON, f"{RUNS}.csv", f"{RUNS}.md", f"{AUDIT}.csv", f"{AUDIT}.md",
             PROVENANCE, RECORDS)


def publish(results: Path, reference: Path) -> list[str]:
    """Make ``results`` the committed reference: copy what ``PUBLISHED`` names into ``reference``.

    The reference directory is replaced whole, and only when it is absent, empty, or a reference this
    function wrote (it holds ``provenance.json``): nothing else is ever deleted.
    """
    import shutil

    from repro.io import atomic_dir

    results, reference = Path(results), Path(reference)
    if not (results / PROVENANCE).is_file():
        raise ReproError(f"{results}: no {PROVENANCE}; run the experiment to the end (its last step writes it) "
                         "before publishing it as the reference")
    copied = []
    with atomic_dir(reference, owned=lambda path: (path / PROVENANCE).is_file(),
                    writer="repro report publish") as tmp:
        for name in PUBLISHED:
            source = results / name
            if source.is_dir():  # without the marker Snakemake leaves in a directory it made
                shutil.copytree(source, tmp / name, ignore=shutil.ignore_patterns(".snakemake_timestamp"))
            elif source.is_file():
                shutil.copy2(source, tmp / name)
            else:
                continue
            copied.append(name)
    return copied
