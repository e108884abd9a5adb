"""The convergence audit: a finished run continued at its final rate, the run itself untouched."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from repro.errors import ReproError
from repro.train.audit import audit_run
from repro.train.audit_result import audit_path, read_audit
from repro.train.config import TrainConfig
from repro.train.log import read_log
from repro.train.run_info import Status, read_run_info, write_run_info
from repro.train.trainer import train

# a constant rate, so that "the final rate" is the run's own and the audit must equal a longer run
CONSTANT = dict(lr_schedule="constant", optimizer="adam", lr=0.01, teacher_forcing_ratio=0.8)


@pytest.fixture
def data_dir(tmp_path, make_data_dir):
    return make_data_dir(tmp_path / "data")


def _digest(run_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def _valid(run_dir: Path) -> list[tuple[float, float]]:
    return [(e["epoch"], e["valid_ppl"]) for e in read_log(run_dir) if e["kind"] == "valid"]


def test_audit_continues_exactly_like_a_longer_run_and_leaves_the_run_alone(data_dir, tmp_path, tiny_model,
                                                                             train_settings):
    run_dir, longer = tmp_path / "run", tmp_path / "longer"
    train(data_dir, run_dir, tiny_model, TrainConfig.from_dict(train_settings(epochs=2, **CONSTANT)))
    before = _digest(run_dir)
    result = audit_run(run_dir, tmp_path / "audit", evals=3)
    assert _digest(run_dir) == before  # only read

    # the same run trained 1.5 epochs (3 evaluations) further: the audit is its continuation, to the bit
    train(data_dir, longer, tiny_model, TrainConfig.from_dict(train_settings(epochs=3.5, **CONSTANT)))
    further = [(epoch, ppl) for epoch, ppl in _valid(longer) if epoch > 2 + 1e-9]
    assert list(zip(result.epochs, result.valid_ppls)) == further and len(further) == 3
    info = read_run_info(run_dir)
    assert result.best_valid_ppl == info.best_valid_ppl and result.stop_reason == "epoch_limit"
    assert result.final_lr == 0.01 and result.stopped_epoch == pytest.approx(2.0)
    assert result.further_gain == pytest.approx(max(0.0, 1 - min(ppl for _, ppl in further) / info.best_valid_ppl))
    assert read_audit(audit_path(tmp_path / "audit")) == result
    assert not (tmp_path / "audit" / "checkpoints").exists()  # the continued model is not kept


def test_audit_holds_the_rate_the_run_ended_with(data_dir, tmp_path, tiny_model, train_settings):
    run_dir = tmp_path / "run"
    plateau = dict(lr_schedule="plateau", plateau_patience=1, min_improvement=0.5, optimizer="adam", lr=0.02)
    train(data_dir, run_dir, tiny_model, TrainConfig.from_dict(train_settings(epochs=2, **plateau)))
    ended = [e["lr"] for e in read_log(run_dir) if e["kind"] == "train"][-1]
    assert ended < 0.02  # decayed on the way
    result = audit_run(run_dir, tmp_path / "audit", evals=2)
    after = [e["lr"] for e in read_log(tmp_path / "audit") if e["kind"] == "train" and e["step"] > 0]
    assert result.final_lr == ended and after and set(after[-4:]) == {ended}
    assert len(result.valid_ppls) == 2


def test_further_gain_is_zero_when_nothing_beats_the_best():
    from repro.train.audit_result import AuditResult

    result = AuditResult(run_dir="r", stop_reason="converged", stopped_epoch=3.0, best_valid_ppl=2.0, final_lr=1e-3,
                         epochs=[3.5, 4.0], valid_ppls=[2.1, 2.05])
    assert result.further_gain == 0.0
    assert AuditResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert result.to_dict()["further_gain"] == 0.0


def test_audit_refuses_unfinished_runs_and_its_own_run_directory(data_dir, tmp_path, tiny_model, train_settings):
    with pytest.raises(ReproError, match=r"not a run directory \(no run.json\)"):
        audit_run(tmp_path / "nothing", tmp_path / "audit")
    run_dir = tmp_path / "run"
    train(data_dir, run_dir, tiny_model, TrainConfig.from_dict(train_settings(max_steps=2, **CONSTANT)))
    with pytest.raises(ReproError, match="a directory of its own"):
        audit_run(run_dir, run_dir)
    write_run_info(run_dir, replace(read_run_info(run_dir), status=Status.RUNNING))
    with pytest.raises(ReproError, match="not finished"):
        audit_run(run_dir, tmp_path / "audit")


def test_audit_writes_only_into_a_directory_of_its_own(data_dir, tmp_path, tiny_model, train_settings):
    # a hostile-input probe found the audit seeding its checkpoint into a data directory, then training there
    run_dir = tmp_path / "run"
    train(data_dir, run_dir, tiny_model, TrainConfig.from_dict(train_settings(max_steps=2, **CONSTANT)))
    before = sorted(p.name for p in data_dir.iterdir())
    with pytest.raises(ReproError, match="is the data directory"):
        audit_run(run_dir, data_dir)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    with pytest.raises(ReproError, match="non-empty directory that `repro train` did not write"):
        audit_run(run_dir, mine)
    assert sorted(p.name for p in data_dir.iterdir()) == before and sorted(p.name for p in mine.iterdir()) == [
        "notes.txt"]
