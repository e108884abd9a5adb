"""Run directories and checkpoints: atomic saves, and loading a trained model for translation.

A checkpoint is one ``torch.save`` dict: ``model_config``, ``model`` (state dict), and, for resuming,
``optimizer``, ``schedule``, ``trainer`` (step, epoch, position in the data order, best validation
perplexity), ``rng`` (every generator's state) and ``data_fingerprint`` (the digests of the files it
was trained on, ``repro.data.fingerprint``) as the trainer writes them.
"""

from __future__ import annotations

import logging
import platform
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.cpu_isa import isa_limits
from repro.data.fingerprint import VOCABULARIES, check_fingerprint
from repro.data.storage import load_meta
from repro.data.vocab import Vocab
from repro.errors import ReproError
from repro.io import atomic_save
from repro.models.seq2seq import ModelConfig, Seq2Seq

logger = logging.getLogger(__name__)

DATA_FILES = ("meta.json", "vocab.src.txt", "vocab.tgt.txt", "vocab.src.counts", "vocab.tgt.counts",
              "spm.src.model", "spm.tgt.model")


def checkpoint_path(run_dir: str | Path, which: str = "last") -> Path:
    return Path(run_dir) / "checkpoints" / f"{which}.pt"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write atomically: a run killed mid-save keeps its previous checkpoint intact."""
    atomic_save(lambda tmp: torch.save(payload, tmp), path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ReproError(f"{path}: checkpoint not found")
    try:
        # mmap: the file's pages, not a copy per process, back the tensors until they are copied into a
        # model (the ranks of a node resuming one run share them in the page cache)
        return torch.load(path, map_location=map_location, weights_only=False, mmap=True)
    except Exception as exc:  # a truncated or foreign file
        raise ReproError(f"{path}: not a readable checkpoint ({exc})") from exc


def copy_data_files(data_dir: str | Path, run_dir: str | Path) -> None:
    """Copy vocabularies and tokenizer settings into the run, so a run is self-contained."""
    target = Path(run_dir) / "data"
    target.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        source = Path(data_dir) / name
        if source.exists():
            shutil.copyfile(source, target / name)


def environment_info(device: torch.device) -> dict[str, Any]:
    """What a run's numbers depend on besides its config (for run.json): library versions, the device, the
    CPU thread count and, where set, the limits on the CPU's instruction set (``isa_limits``, e.g.
    ``ONEDNN_MAX_CPU_ISA=AVX2``: the numbers are then those of the older CPU). Plain strings and ints, so it
    serialises as JSON."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = _cpu_model_name()
    return {"torch": torch.__version__, "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(), "device_type": device.type, "device_name": name,
            "num_threads": torch.get_num_threads(), **({"isa_limits": limits} if (limits := isa_limits()) else {})}


def _cpu_model_name() -> str:
    """The CPU's marketing name: platform.processor() is only the architecture ("x86_64") on Linux, so
    /proc/cpuinfo's "model name" comes first where it exists."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:  # not Linux, or /proc not mounted
        pass
    return platform.processor() or platform.machine() or "unknown"


# The names repro.io.atomic_write/atomic_save give their temporary files: tempfile.mkstemp with prefix
# ".<target name>." and suffix ".tmp", whose random part is 8 characters of [a-z0-9_].
_TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp")


def remove_orphaned_temporaries(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files a SIGKILLed run left beside run.json, log.jsonl and the checkpoints
    (an atomic write that is killed cannot clean up after itself; a checkpoint's is as large as the
    model). Only plain files whose whole name matches the temporary pattern are touched; returns them."""
    removed = []
    for folder in (Path(run_dir), Path(run_dir) / "checkpoints"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if _TEMPORARY.fullmatch(path.name) and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        logger.info(f"{run_dir}: removed {len(removed)} temporary file(s) left by a killed run: "
                    f"{', '.join(str(p) for p in removed)}")
    return removed


@dataclass
class LoadedRun:
    model: Seq2Seq
    src_vocab: Vocab
    tgt_vocab: Vocab
    meta: dict[str, Any]
    run_dir: Path

    def tokenizers(self):
        """(source, target) tokenizers with the settings the data was prepared with."""
        from repro.data.tokenize import load_tokenizers

        return load_tokenizers(self.run_dir / "data")


def model_from_checkpoint(payload: dict[str, Any]) -> Seq2Seq:
    model = Seq2Seq(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["model"])
    return model


def load_run(run_dir: str | Path, which: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """Load a trained model (``best`` by validation perplexity, or ``last``) with its vocabularies."""
    run_dir = Path(run_dir)
    path = checkpoint_path(run_dir, which)
    if not path.exists() and which == "best":
        path = checkpoint_path(run_dir, "last")
    payload = load_checkpoint(path, map_location="cpu")
    data = run_dir / "data"
    if not (data / "meta.json").exists():
        raise ReproError(f"{run_dir}: run has no data/meta.json (was it written by `repro train`?)")
    meta = load_meta(data)
    advice = "the run's data/ must hold the vocabularies of the data directory it was trained on"
    recorded = payload.get("data_fingerprint") or {}
    check_fingerprint({name: recorded[name] for name in VOCABULARIES if name in recorded}, data, path, advice)
    vocabs = {side: Vocab.load(data / f"vocab.{side}.txt") for side in ("src", "tgt")}
    for side, vocab in vocabs.items():  # what a checkpoint from before fingerprints can still be checked on
        size = payload["model_config"][f"{side}_vocab_size"]
        if len(vocab) != size:
            raise ReproError(f"{data / f'vocab.{side}.txt'}: {len(vocab)} entries, but the model in {path} was "
                             f"trained with a vocabulary of {size}; {advice}")
    model = model_from_checkpoint(payload).to(device).eval()
    return LoadedRun(model, vocabs["src"], vocabs["tgt"], meta, run_dir)
