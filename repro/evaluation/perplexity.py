"""Test perplexity of a trained run on a prepared split (paper §3.6: 5.8 -> 4.7 with reversal).

The computation is the trainer's (``repro.train.evaluate.perplexity``: exp of the mean cross-entropy
per target token, ``<eos>`` included, teacher forced), so validation during training and test scoring
agree by construction. This module only adds loading the run and the split and checking they match.
"""

from __future__ import annotations

from pathlib import Path

from repro.data.storage import load_split
from repro.data.vocab import Vocab
from repro.device import Precision
from repro.errors import ReproError


def run_perplexity(run_dir: str | Path, data_dir: str | Path, split: str = "test", which: str = "best",
                   batch_size: int = 64, precision: Precision = Precision()) -> dict:
    """``{"ppl", "nll", "nll_sum", "tokens", "sentences", "split", "checkpoint", "bf16"}`` of a run on a split,
    the model on ``precision.device`` under its autocast (the trainer's validation); the cross-entropy in fp32.
    """
    from repro.train.checkpoint import load_run
    from repro.train.evaluate import perplexity

    run = load_run(run_dir, which=which, device=precision.device)
    data_dir = Path(data_dir)
    for side in ("src", "tgt"):
        if Vocab.load(data_dir / f"vocab.{side}.txt").itos != getattr(run, f"{side}_vocab").itos:
            raise ReproError(f"{data_dir}: its {side} vocabulary differs from the one {run_dir} was trained on")
    result = perplexity(run.model, load_split(data_dir, split), batch_size, precision)
    return {**result, "split": split, "checkpoint": which, "bf16": precision.bf16}
