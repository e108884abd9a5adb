"""Records: the small text files every table, figure and claim of an experiment is computed from.

An experiment's steps write records under ``work/<experiment>/records/`` (``repro.layout.RecordsLayout``):
the test set's references and per-sentence features (``data.json``), each run's ``run.json`` with its
learning curves (``runs/``), each system's translations and scores (``systems/``), each run's test
perplexity, Figure 2's encoder states and the convergence audit. The reports read records only, never a
model or a checkpoint, so a committed reference that carries its records (``records/`` beside its tables)
is rebuilt by ``repro report`` in seconds, and a reviewer recomputes any score from a committed file.

Each record's JSON file holds a ``fingerprint``: a digest of every setting that produced it
(:class:`RecordPlan`). A record is *valid* for a config when its fingerprint is the one the config
gives; a changed setting changes the fingerprints of exactly the records it produced. The workflow
makes only the records that have no valid copy in the work directory or in the directories the config's
``records_from`` names (the records of earlier sittings or other machines), so an experiment is extended
(more seeds) or completed in several sittings by adding records (:func:`merge`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.data.config import PrepareConfig
from repro.data.sources import SOURCES
from repro.errors import DataError, ReproError
from repro.experiment_config import ExperimentConfig
from repro.experiments import REVERSED, Part, Plan, RunSpec, SystemSpec
from repro.experiments import plan as make_plan
from repro.layout import Layout, RecordsLayout
from repro.models.config import DATA_DEFINED_KEYS
from repro.train.audit_result import read_audit

FINGERPRINT = "fingerprint"
# Settings that change how fast a step runs, never what it writes.
_NOT_RESULTS = {"data": ("workers", "chunk_size"), "train": ("progress", "num_workers", "log_every_steps"),
                "decode": ()}


def digest(value: Any) -> str:
    """A short digest of a JSON-serialisable value (its canonical JSON)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Record:
    """One record a config asks for: its JSON file (``path``, relative to a records directory), the files
    that go with it (``companions``) and the fingerprint a valid copy carries."""

    path: str
    fingerprint: str
    companions: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return (self.path, *self.companions)


def _results(section: Any, name: str) -> dict[str, Any]:
    """A typed section's values that can change a result (not, say, a progress bar's)."""
    values = dataclasses.asdict(section)
    return {key: value for key, value in values.items() if key not in _NOT_RESULTS.get(name, ())}


def _data_section(config: ExperimentConfig) -> dict[str, Any]:
    """The data: settings behind every record, without those that only locate the source's files."""
    data = _results(config.data, "data")
    located = SOURCES[data["source"]].location_options
    if located:
        data[data["source"]] = {key: value for key, value in data[data["source"]].items() if key not in located}
    return data


class RecordPlan:
    """Every record an experiment config asks for, with the fingerprint of the settings behind it."""

    def __init__(self, config: ExperimentConfig | Mapping[str, Any], experiment_plan: Plan | None = None) -> None:
        self.plan = experiment_plan or make_plan(config)
        self.config = self.plan.config
        self.layout = RecordsLayout()  # names relative to a records directory
        self._data = digest(_data_section(self.config))
        self._decode = _results(self.config.decode, "decode")
        self._runs: dict[str, str] = {}

    def data(self) -> Record:
        return Record(self.layout.data, self._data,
                      tuple(self.layout.references(tokenized) for tokenized in (False, True)))

    def run_fingerprint(self, run: RunSpec) -> str:
        if run.name not in self._runs:
            config = self.plan.config_of(run)
            model = {k: v for k, v in dataclasses.asdict(config.model).items() if k not in DATA_DEFINED_KEYS}
            self._runs[run.name] = digest({"data": self._data, "train": _results(config.train, "train"),
                                           "model": model})
        return self._runs[run.name]

    def run(self, run: RunSpec) -> Record:
        return Record(self.layout.run(run.name), self.run_fingerprint(run),
                      (self.layout.train_curve(run.name),))

    def system(self, system: SystemSpec) -> Record:
        name, search = system.decoder.name, system.search
        fingerprint = digest({"runs": [self.run_fingerprint(run) for run in system.runs], "decode": self._decode,
                              "beam": system.beam, "min_len": system.min_len})
        return Record(self.layout.scores(name, search), fingerprint,
                      tuple(self.layout.translation(name, search, tok) for tok in (False, True)))

    def perplexity(self, run: RunSpec) -> Record:
        fingerprint = digest({"run": self.run_fingerprint(run),
                              "decode": {k: self._decode[k] for k in ("batch_size", "device", "bf16")}})
        return Record(self.layout.perplexity(run.name), fingerprint)

    def figure2_run(self) -> RunSpec:
        """The model whose encoder states Figure 2 shows: the single reversed model of Table 1."""
        return self.plan.single(REVERSED).runs[0]

    def figure2(self) -> Record:
        return Record(self.layout.figure2, digest({"run": self.run_fingerprint(self.figure2_run())}))

    def audit(self, run: RunSpec) -> Record:
        return Record(self.layout.audit(run.name), digest({"run": self.run_fingerprint(run)}))

    def part(self, part: Part) -> list[Record]:
        """The records of a part of the experiment (``Plan.parts``): what a sitting that trains it adds."""
        records = [self.data(), *(self.run(r) for r in part.runs), *(self.system(s) for s in part.systems)]
        records += [self.perplexity(r) for r in self.plan.perplexity_runs() if r in part.runs]
        if self.figure2_run() in part.runs:
            records.append(self.figure2())
        return records

    def every(self, audits: bool = False) -> list[Record]:
        """Every record a complete report reads (and the audit's, with ``audits``)."""
        runs = list(self.plan.runs.values())
        records = [self.data(), *(self.run(r) for r in runs), *(self.system(s) for s in self.plan.systems.values())]
        records += [self.perplexity(r) for r in self.plan.perplexity_runs()]
        records.append(self.figure2())
        return records + ([self.audit(r) for r in runs] if audits else [])


def read_fingerprint(path: Path) -> str | None:
    """The fingerprint a record file carries; None when it is missing or unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get(FINGERPRINT)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


class RecordStore:
    """Records looked up in several directories, the first valid copy winning: the work directory's own,
    then those of earlier sittings or other machines (the config's ``records_from``)."""

    def __init__(self, roots: Sequence[str | Path]) -> None:
        self.roots = [Path(root) for root in roots]

    def find(self, record: Record) -> Path | None:
        """The directory holding a valid copy of ``record`` (its fingerprint, and every companion file)."""
        for root in self.roots:
            if read_fingerprint(root / record.path) == record.fingerprint and all(
                    (root / name).is_file() for name in record.companions):
                return root
        return None

    def root(self, record: Record) -> Path:
        found = self.find(record)
        if found is not None:
            return found
        stale = [str(root / record.path) for root in self.roots if (root / record.path).is_file()]
        where = ", ".join(str(root) for root in self.roots)
        if stale:
            raise ReproError(f"{stale[0]}: a record of other settings than the config's (fingerprint "
                             f"{read_fingerprint(Path(stale[0]))}, expected {record.fingerprint}); rerun the "
                             "workflow to make it again")
        raise ReproError(f"no record {record.path} in {where}; has the workflow step that writes it run?")

    def read_json(self, record: Record) -> dict[str, Any]:
        path = self.root(record) / record.path
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"not valid JSON ({exc})", path) from None

    def companion(self, record: Record, name: str) -> Path:
        return self.root(record) / name


def record_roots(config: ExperimentConfig, layout: Layout) -> list[str]:
    """Where an experiment's records are looked up, in order: its work directory's, then ``records_from``."""
    return [layout.records.root, *config.records_from]


def merge(records: Iterable[Record], sources: Sequence[str | Path], into: str | Path) -> list[str]:
    """Copy the valid records among ``sources`` into ``into`` (a records directory), replacing older copies
    there; returns the records copied. Only record files are written, each atomically."""
    from repro.io import atomic_write

    store, into = RecordStore(sources), Path(into)
    copied = []
    for record in records:
        root = store.find(record)
        if root is None or root.resolve() == into.resolve():
            continue
        for name in reversed(record.files):  # the JSON file last: it makes the record valid
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(into / name, "wb") as handle:
                with open(root / name, "rb") as source:
                    shutil.copyfileobj(source, handle)
        copied.append(record.path)
    return copied


# ---- writing records from a step's outputs (the workflow's record rules; ``repro record``)

TRAIN_CURVE_COLUMNS = ("step", "epoch", "lr", "grad_norm")  # what the figures read of each training interval


def _write_json(path: Path, value: dict[str, Any]) -> None:
    from repro.io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, encoding="utf-8") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)
        handle.write("\n")


def _copy_text(source: Path, target: Path) -> None:
    from repro.io import atomic_write, read_text_lines

    lines = read_text_lines(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)


def write_data_record(data_dir: str | Path, out: RecordsLayout, fingerprint: str) -> None:
    """The test set as the reports read it: references, and per source sentence its length and the
    average frequency rank of its words (Figure 3)."""
    import numpy as np

    from repro.data.storage import load_meta, load_split
    from repro.data.vocab import Vocab, average_frequency_rank

    data_dir = Path(data_dir)
    meta = load_meta(data_dir)
    split = load_split(data_dir, "test")
    sources = [np.asarray(split.src[i]) for i in range(len(split))]
    rarity = average_frequency_rank(sources, Vocab.load(data_dir / "vocab.src.txt").frequency_rank)
    for tokenized, name in ((False, "test.raw.tgt"), (True, "test.tok.tgt")):
        _copy_text(data_dir / name, Path(out.references(tokenized)))
    _write_json(Path(out.data), {
        FINGERPRINT: fingerprint,
        "meta": {key: meta.get(key) for key in ("source", "splits", "src_vocab_size", "tgt_vocab_size")},
        "test": {"src_length": [len(s) for s in sources], "src_rarity": [float(r) for r in rarity]},
    })


def write_run_record(run_dir: str | Path, name: str, out: RecordsLayout, fingerprint: str) -> None:
    """A finished run: its run.json, its validations (every field the log has), and per training interval
    the columns of ``TRAIN_CURVE_COLUMNS`` (a TSV, every float written so that it reads back exactly)."""
    from repro.io import atomic_write
    from repro.train.log import read_log
    from repro.train.run_info import Status, read_run_info

    info = read_run_info(run_dir)
    if info.status != Status.DONE:
        raise ReproError(f"{run_dir}: the run is not finished (status {info.status}); a record is of a finished run")
    log = read_log(run_dir)
    valid = [entry for entry in log if entry.get("kind") == "valid"]
    if not valid:
        raise ReproError(f"{run_dir}/log.jsonl: no validation entries; the record needs the learning curve")
    curve = Path(out.train_curve(name))
    curve.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(curve, encoding="utf-8") as handle:
        handle.write("\t".join(TRAIN_CURVE_COLUMNS) + "\n")
        for entry in log:
            if entry.get("kind") == "train":
                handle.write("\t".join(repr(entry[column]) for column in TRAIN_CURVE_COLUMNS) + "\n")
    _write_json(Path(out.run(name)), {FINGERPRINT: fingerprint, "run": info.to_dict(), "valid": valid})


def read_train_curve(path: Path) -> dict[str, list[float]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != TRAIN_CURVE_COLUMNS:
        raise DataError(f"expected the header {' '.join(TRAIN_CURVE_COLUMNS)}", path, 1)
    columns: dict[str, list[float]] = {column: [] for column in TRAIN_CURVE_COLUMNS}
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(TRAIN_CURVE_COLUMNS):
            raise DataError(f"{len(cells)} columns, expected {len(TRAIN_CURVE_COLUMNS)}", path, number)
        try:
            for column, cell in zip(TRAIN_CURVE_COLUMNS, cells):
                columns[column].append(int(cell) if column == "step" else float(cell))
        except ValueError as exc:
            raise DataError(f"not a number ({exc})", path, number) from None
    return columns


def write_figure2_record(run_dir: str | Path, data: PrepareConfig, out: RecordsLayout, fingerprint: str) -> None:
    """Figure 2's input: the final encoder state of the run's best model for each phrase of the paper's two
    panels (or, on the synthetic source, of its phrase sets, with the meaning each phrase belongs to)."""
    import numpy as np
    import torch

    from repro.inference.encode import FIG2_PHRASES, encode_sentences
    from repro.train.checkpoint import load_run

    loaded = load_run(run_dir, "best", device="cpu")
    src_tok, _ = loaded.tokenizers()
    groups: dict[str, str] | None = None
    if loaded.meta.get("source") == "synthetic":
        from repro.data.sources.synthetic import synthetic_phrase_sets

        sets = synthetic_phrase_sets(data.source_options("synthetic"), data.seed)
        panels_text = {"synthetic phrases (one colour per meaning)": [p for v in sets.values() for p in v]}
        groups = {p: meaning for meaning, v in sets.items() for p in v}
    else:
        panels_text = {"left panel phrases": FIG2_PHRASES["left"], "right panel phrases": FIG2_PHRASES["right"]}
    panels = {}
    with torch.no_grad():
        for panel, phrases in panels_text.items():
            ids = [loaded.src_vocab.encode(src_tok.tokenize(p)) for p in phrases]
            vectors = encode_sentences(loaded.model, ids).astype(np.float64)
            panels[panel] = {"phrases": list(phrases), "vectors": vectors.tolist()}
    _write_json(Path(out.figure2), {FINGERPRINT: fingerprint, "run": Path(run_dir).name, "panels": panels,
                                    "groups": groups})


def write_audit_record(audit_json: str | Path, out_path: str | Path, fingerprint: str) -> None:
    _write_json(Path(out_path), {FINGERPRINT: fingerprint, **read_audit(audit_json).to_dict()})
