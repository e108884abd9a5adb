"""Records: fingerprints that change with exactly the settings behind a record, the store's lookup, merging,
and the writers' files read back exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from repro.errors import DataError, ReproError
from repro.experiment_config import ExperimentConfig
from repro.layout import RecordsLayout
from repro.records import (
    FINGERPRINT,
    RecordPlan,
    RecordStore,
    merge,
    read_train_curve,
    write_run_record,
)
from repro.train.run_info import RunInfo, Status, StopReason, write_run_info

CONFIG = {
    "experiment": "x",
    "data": {"source": "synthetic", "src_vocab_size": 50, "tgt_vocab_size": 50},
    "model": {"num_layers": 1, "hidden_size": 8, "embedding_size": 4},
    "train": {"lr": 0.01, "epochs": 2},
    "decode": {"max_len_b": 5},
    "paper": {"reversed_seeds": [1, 2], "forward_seeds": [1], "ensembles": [2], "table1_beams": [1, 2],
              "beam_table_beams": [1, 2], "figure_beam": 2},
    "ablations": {"enabled": True, "seeds": [1], "beam": 1, "cell": ["gru"]},
}


def _fingerprints(config: dict) -> dict[str, str]:
    records = RecordPlan(config)
    return {record.path: record.fingerprint for record in records.every(audits=True)}


def _changed(change: dict) -> set[str]:
    config = json.loads(json.dumps(CONFIG))
    for dotted, value in change.items():
        section, key = dotted.split(".")
        config.setdefault(section, {})[key] = value
    before, after = _fingerprints(CONFIG), _fingerprints(config)
    assert before.keys() == after.keys()
    return {path for path in before if before[path] != after[path]}


def test_a_changed_setting_invalidates_exactly_the_records_it_produced():
    every = set(_fingerprints(CONFIG))
    systems = {path for path in every if path.startswith("systems/")}
    runs = {path for path in every if path.startswith(("runs/", "audit/"))}
    perplexities = {path for path in every if path.startswith("perplexity/")}
    # a decoding setting: every translation, nothing trained, no perplexity (it does not decode)
    assert _changed({"decode.max_len_b": 6}) == systems
    # the batch size both decoding and the test perplexity run with: the systems and the perplexities
    assert _changed({"decode.batch_size": 7}) == systems | perplexities
    # the defaults written out change nothing
    assert _changed({"model.forget_bias": None, "train.clip_norm": 5.0, "decode.length_norm": 0.0}) == set()
    # a base setting that the paper's reversed and forward variants set for themselves: the records of the
    # one variant that takes it from the base config (the GRU ablation run), nothing else
    assert _changed({"model.reverse_source": False}) == {
        "runs/cell-gru-s1.json", "audit/cell-gru-s1.json", "systems/cell-gru-s1/beam1.json"}
    # what the report shows, not what was run: nothing
    assert _changed({"ablations.bootstrap_samples": 10}) == set()
    # a training setting: every run and everything made from one, never the test set
    trained = _changed({"train.lr": 0.02})
    assert runs and runs <= trained
    assert trained == every - {"data.json"}
    # the data: everything
    assert _changed({"data.src_vocab_size": 51}) == every
    # how fast a step runs is not a setting of its result
    assert _changed({"train.progress": True, "data.workers": 2}) == set()


def test_where_a_copy_of_checksummed_data_lies_is_not_a_setting_of_what_is_made_from_it():
    multi30k = {**CONFIG, "data": {**CONFIG["data"], "source": "multi30k"}}
    located = {**multi30k, "data": {**multi30k["data"], "multi30k": {"local_dir": "/elsewhere", "cache_dir": "/c"}}}
    assert _fingerprints(located) == _fingerprints(multi30k)
    # the files of a source that checks nothing are what its data are
    def local(path: str) -> dict:
        return {**CONFIG, "data": {**CONFIG["data"], "source": "local", "local": {"train_src": path}}}

    assert _fingerprints(local("a.en"))["data.json"] != _fingerprints(local("b.en"))["data.json"]


def test_adding_seeds_keeps_every_existing_record_valid():
    config = json.loads(json.dumps(CONFIG))
    config["ablations"]["cell_equal_parameters"] = False
    base = _fingerprints(config)
    records = RecordPlan(config)
    run = records.plan.runs["cell-gru-s1"]
    # the same experiment with the gru run's seed-1 settings, as a user who adds a seed sees them
    more = json.loads(json.dumps(config))
    more["ablations"]["seeds"] = [1, 2]
    after = _fingerprints(more)
    # adding seeds keeps every existing record valid, and adds the new runs' records
    assert {path: after[path] for path in base} == base
    assert set(after) - set(base) >= {"runs/cell-gru-s2.json", "systems/cell-gru-s2/beam1.json"}
    assert records.run(run).fingerprint == RecordPlan(more).run(RecordPlan(more).plan.runs["cell-gru-s1"]).fingerprint


def test_snakemake_strings_give_the_same_fingerprints():
    """`snakemake --config train.lr=0.01` passes strings; the record is the same as the YAML's."""
    config = json.loads(json.dumps(CONFIG))
    config["train"]["lr"] = "0.01"
    config["decode"]["max_len_b"] = "5"
    config["model"]["hidden_size"] = "8"
    assert _fingerprints(config) == _fingerprints(CONFIG)


def _record_file(root: Path, name: str, fingerprint: str, **content) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({FINGERPRINT: fingerprint, **content}))


def test_the_store_takes_the_first_valid_copy_with_its_companions(tmp_path):
    records = RecordPlan(CONFIG)
    record = records.system(records.plan.system(records.plan.single("reversed"), 2))
    work, earlier = tmp_path / "work", tmp_path / "earlier"
    store = RecordStore([work, earlier])
    assert store.find(record) is None
    with pytest.raises(ReproError, match="no record systems/reversed-s1/beam2.json in .*work.*earlier"):
        store.root(record)
    _record_file(earlier, record.path, record.fingerprint, bleu_paper=1.0)
    assert store.find(record) is None  # its translations are missing
    for name in record.companions:
        (earlier / name).write_text("a\n")
    assert store.find(record) == earlier and store.read_json(record)["bleu_paper"] == 1.0
    # a stale copy in the work directory does not hide the valid one, and is named when it is the only one
    _record_file(work, record.path, "0" * 16, bleu_paper=2.0)
    for name in record.companions:
        (work / name).write_text("b\n")
    assert store.find(record) == earlier
    with pytest.raises(ReproError, match=r"work/systems/reversed-s1/beam2.json: a record of other settings"):
        RecordStore([work]).root(record)
    _record_file(work, record.path, record.fingerprint, bleu_paper=2.0)
    assert store.find(record) == work


def test_merge_copies_valid_records_only_and_replaces_older_copies(tmp_path):
    records = RecordPlan(CONFIG)
    run = records.plan.runs["reversed-s1"]
    valid, stale = records.run(run), records.run(records.plan.runs["forward-s1"])
    source, into = tmp_path / "sitting1", tmp_path / "committed"
    _record_file(source, valid.path, valid.fingerprint, n=1)
    (source / valid.companions[0]).write_text("step\tepoch\tlr\tgrad_norm\n")
    _record_file(source, stale.path, "f" * 16)
    (source / stale.companions[0]).write_text("step\tepoch\tlr\tgrad_norm\n")
    _record_file(into, valid.path, "e" * 16, n=0)  # an older copy, of other settings
    assert merge([valid, stale], [source], into) == [valid.path]
    assert json.loads((into / valid.path).read_text())["n"] == 1
    assert not (into / stale.path).exists()
    assert RecordStore([into]).find(valid) == into
    assert merge([valid], [into], into) == []  # nothing copied onto itself


def test_records_from_accepts_one_path_or_a_list():
    def records_from(config):
        return ExperimentConfig.from_dict({"experiment": "x", **config}).records_from

    assert records_from({}) == () and records_from({"records_from": "a"}) == ("a",)
    assert records_from({"records_from": ["a", "b"]}) == ("a", "b")


def test_a_run_record_reads_back_exactly(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    info = RunInfo(status=Status.DONE, stop_reason=StopReason.CONVERGED, best_valid_ppl=3.141592653589793,
                   train={"seed": 4}, bf16=False)
    write_run_info(run_dir, info)
    entries = [{"kind": "train", "step": 2, "epoch": 0.1 + 0.2, "lr": 1 / 3, "grad_norm": math.pi, "loss": 1.0},
               {"kind": "valid", "step": 2, "epoch": 0.3, "valid_ppl": 12.5, "best": True},
               {"kind": "train", "step": 4, "epoch": 0.6, "lr": 1e-300, "grad_norm": 2.0, "loss": 1.0}]
    (run_dir / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    out = RecordsLayout(str(tmp_path / "records"))
    write_run_record(run_dir, "reversed-s4", out, "abc")
    record = json.loads(Path(out.run("reversed-s4")).read_text())
    assert record[FINGERPRINT] == "abc" and record["valid"] == [entries[1]]
    assert RunInfo.from_dict(record["run"]) == info
    curve = read_train_curve(Path(out.train_curve("reversed-s4")))
    assert curve == {"step": [2, 4], "epoch": [0.1 + 0.2, 0.6], "lr": [1 / 3, 1e-300], "grad_norm": [math.pi, 2.0]}


def test_a_run_record_needs_a_finished_run(tmp_path):
    write_run_info(tmp_path, RunInfo(status=Status.RUNNING))
    with pytest.raises(ReproError, match="not finished"):
        write_run_record(tmp_path, "r", RecordsLayout(str(tmp_path / "records")), "abc")


def test_a_damaged_train_curve_names_the_line(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("step\tepoch\tlr\tgrad_norm\n1\t0.5\t0.1\t2.0\n2\t0.6\tx\t2.0\n")
    with pytest.raises(DataError, match=r"c.tsv, line 3: not a number"):
        read_train_curve(path)
    path.write_text("step\tlr\n")
    with pytest.raises(DataError, match=r"c.tsv, line 1: expected the header"):
        read_train_curve(path)


def test_report_records_copies_a_sittings_valid_records_from_the_work_directory_and_records_from(tmp_path):
    """`repro report records`: the valid records the config asks for, wherever the store finds them."""
    import yaml

    from repro.cli import main

    records = RecordPlan(CONFIG)
    in_work, in_earlier = records.run(records.plan.runs["reversed-s1"]), records.data()
    stale = records.run(records.plan.runs["forward-s1"])
    work, earlier, out = tmp_path / "work/x", tmp_path / "sitting1", tmp_path / "share"
    for root, record in ((work / "records", in_work), (earlier, in_earlier), (work / "records", stale)):
        _record_file(root, record.path, record.fingerprint if record is not stale else "0" * 16)
        for name in record.companions:
            (root / name).write_text("a\n")
    config = tmp_path / "report.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "records_from": str(earlier)}))
    assert main(["report", "records", "--config", str(config), "--work", str(work), "--out", str(out)]) == 0
    copied = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert copied == sorted([*in_work.files, *in_earlier.files])
    assert RecordStore([out]).find(in_work) == out and RecordStore([out]).find(in_earlier) == out
