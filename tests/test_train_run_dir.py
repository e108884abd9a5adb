"""A run directory belongs to one run: what `repro train --out` refuses, its lock, --overwrite, and the
data a model is used with checked against the fingerprints recorded when it was trained."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from repro.cli import main
from repro.errors import ReproError
from repro.train.checkpoint import load_checkpoint, load_run, save_checkpoint
from repro.train.config import TrainConfig
from repro.train.run_dir import LOCK, check_run_dir, lock_name, locked_run_dir
from repro.train.run_info import read_run_info
from repro.train.trainer import train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, make_data_dir) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("data") / "d")


@pytest.fixture
def run(tiny_model, train_settings):
    def run_(data_dir, out, overwrite=False, **overrides) -> dict:
        return train(data_dir, out, tiny_model, TrainConfig.from_dict(train_settings(**overrides)), overwrite)
    return run_


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------- what --out may be
def test_a_data_directory_or_a_folder_inside_it_is_refused_and_left_as_it_was(data_dir, tmp_path, run):
    before = _snapshot(data_dir)
    with pytest.raises(ReproError, match=r"is the data directory .*`repro prepare` replaces whole"):
        run(data_dir, data_dir, max_steps=2)
    with pytest.raises(ReproError, match=r"is inside the data directory"):
        run(data_dir, data_dir / "runs" / "r1", max_steps=2)
    assert _snapshot(data_dir) == before and not (data_dir / "runs").exists()
    copy = shutil.copytree(data_dir, tmp_path / "other-data")  # another run's --data: refused as any data dir
    with pytest.raises(ReproError, match=r"is a prepared data directory"):
        run(data_dir, copy, max_steps=2)


def test_a_non_empty_directory_the_user_owns_and_a_file_are_refused(data_dir, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine\n")
    monkeypatch.chdir(home)
    assert main(["train", "--data", str(data_dir), "--out", ".", "--set", "train.max_steps=2",
                 "--set", "train.progress=false"]) == 2
    err = capsys.readouterr().err
    assert "non-empty directory that `repro train` did not write (it holds notes.txt)" in err
    assert sorted(os.listdir(home)) == ["notes.txt"]
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["train", "--data", str(data_dir), "--out", str(target)]) == 2
    assert "is a file, not a run directory" in capsys.readouterr().err and target.read_text() == "x"


def test_prepare_does_not_replace_a_data_directory_that_holds_a_folder(tmp_path, capsys, make_pairs, write_lines):
    pairs = make_pairs(40, 1)
    tsv = write_lines(tmp_path / "fra.txt", [f"{en}\t{fr}" for en, fr in pairs])
    out = tmp_path / "data"
    args = ["prepare", "--source", "local", "--format", "tsv", "--train-src", str(tsv), "--valid-size", "4",
            "--test-size", "4", "--workers", "1", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    assert main(args) == 0  # its own output is replaced
    (out / "runs" / "r1" / "checkpoints").mkdir(parents=True)  # a run put there by hand
    (out / "runs" / "r1" / "run.json").write_text("{}")
    capsys.readouterr()
    assert main(args) == 2
    assert "refusing to replace it" in capsys.readouterr().err and (out / "runs" / "r1" / "run.json").exists()


# ----------------------------------------------------------------------------------- a finished run is kept
def test_a_finished_run_without_its_last_checkpoint_is_only_replaced_with_overwrite(data_dir, tmp_path, run):
    out = tmp_path / "r"
    run(data_dir, out, max_steps=4)
    (out / "checkpoints" / "last.pt").unlink()
    before = _snapshot(out)
    with pytest.raises(ReproError, match=r"holds a trained run \(status 'done'\) with no checkpoints/last.pt.*"
                                         r"--overwrite"):
        run(data_dir, out, max_steps=6, seed=2)
    assert _snapshot(out) == before
    (out / "notes.txt").write_text("mine\n")
    info = run(data_dir, out, overwrite=True, max_steps=6, seed=2)
    assert info.status == "done" and info.step == 6 and info.train["seed"] == 2
    assert (out / "notes.txt").read_text() == "mine\n"  # only the run's own files were replaced
    assert load_checkpoint(out / "checkpoints" / "best.pt")["train_config"]["seed"] == 2


def test_a_run_killed_before_its_first_checkpoint_is_restarted(data_dir, tmp_path, run):
    out = tmp_path / "r"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"status": "running", "step": 0}))
    assert run(data_dir, out, max_steps=3).status == "done"


# ----------------------------------------------------------------------------------- one process at a time
def test_a_second_process_fails_at_once_naming_the_holder_and_the_lock_dies_with_it(data_dir, tmp_path, run):
    out = tmp_path / "r"
    with locked_run_dir(out):
        holder = (out / LOCK).read_text()
        assert f"pid {os.getpid()} on " in holder
        with pytest.raises(ReproError, match=rf"already being trained by pid {os.getpid()} on "):
            run(data_dir, out, max_steps=2)
        assert sorted(os.listdir(out)) == [LOCK]  # nothing written beside the holder
    assert run(data_dir, out, max_steps=2).status == "done"  # released when the holder let go


def test_every_rank_holds_its_own_lock_so_a_live_rank_of_an_earlier_launch_blocks_a_relaunch(data_dir, tmp_path):
    out = tmp_path / "r"
    with locked_run_dir(out, rank=1):  # a worker of a launch whose launcher was killed, still alive
        assert lock_name(1) != LOCK and (out / lock_name(1)).read_text().startswith(f"pid {os.getpid()} on ")
        with pytest.raises(ReproError, match=rf"already being trained by rank 1 of pid {os.getpid()} on "):
            with locked_run_dir(out, rank=1):
                pass
        with locked_run_dir(out, rank=0):  # rank 0 of the relaunch is not what it collides with
            check_run_dir(out, data_dir)  # a directory of lock files only is still an empty one
    with locked_run_dir(out, rank=1):  # released with its holder
        pass


def test_a_refused_start_leaves_no_directory_behind(data_dir, tmp_path, train_settings):
    out = tmp_path / "new"
    with pytest.raises(ReproError, match="hidden"):  # refused while building the run, under the lock
        train(data_dir, out, {"hidden": 3}, TrainConfig.from_dict(train_settings(max_steps=2)))
    assert not out.exists()


# ----------------------------------------------------------------------------------- fingerprints
def test_resuming_on_other_data_with_the_same_vocabulary_is_refused(data_dir, tmp_path, make_data_dir, run):
    out = tmp_path / "r"
    run(data_dir, out, max_steps=4, save_every_steps=2)
    other = make_data_dir(tmp_path / "other", seed=5)  # same vocabulary and sizes, other sentences
    assert (other / "vocab.src.txt").read_bytes() == (data_dir / "vocab.src.txt").read_bytes()
    with pytest.raises(ReproError, match=r"train\.src\.ids\.npy.*not the files the model was trained with"):
        run(other, out, max_steps=8, save_every_steps=2)
    info = read_run_info(out)
    assert info.step == 4 and info.data_fingerprint["vocab.tgt.txt"]
    assert run(data_dir, out, max_steps=8, save_every_steps=2).step == 8  # its own data resumes


def test_a_model_is_not_used_with_another_corpus_vocabulary(data_dir, tmp_path, make_data_dir, run, capsys):
    out = tmp_path / "r"
    run(data_dir, out, max_steps=2)
    other = make_data_dir(tmp_path / "other", vocab=30)
    shutil.copyfile(other / "vocab.tgt.txt", out / "data" / "vocab.tgt.txt")
    with pytest.raises(ReproError, match=r"r/data: vocab\.tgt\.txt: not the file the model was trained with"):
        load_run(out)
    source = tmp_path / "in.txt"
    source.write_text("s1 s2\n")
    assert main(["translate", "--model", str(out), "--input", str(source), "--output", str(tmp_path / "o.txt"),
                 "--tokenized-input", "--quiet"]) == 2
    assert "vocab.tgt.txt: not the file the model was trained with" in capsys.readouterr().err
    assert not (tmp_path / "o.txt").exists()
    # a checkpoint from before fingerprints is still checked on the vocabulary's size
    for which in ("best", "last"):
        path = out / "checkpoints" / f"{which}.pt"
        payload = load_checkpoint(path)
        del payload["data_fingerprint"]
        save_checkpoint(path, payload)
    with pytest.raises(ReproError, match=r"vocab\.tgt\.txt: 30 entries, but the model in .* vocabulary of 24"):
        load_run(out)


def test_a_checkpoint_records_the_fingerprints_of_what_it_was_trained_on(data_dir, tmp_path, run):
    out = tmp_path / "r"
    run(data_dir, out, max_steps=2)
    recorded = load_checkpoint(out / "checkpoints" / "last.pt")["data_fingerprint"]
    assert set(recorded) == {"vocab.src.txt", "vocab.tgt.txt"} | {
        f"{split}.{side}.{part}.npy" for split in ("train", "valid") for side in ("src", "tgt")
        for part in ("ids", "offsets")}
    assert len(set(recorded.values())) == len(recorded)  # one digest per file, every file different
