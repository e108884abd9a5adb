"""A tiny prepared data directory for training tests, built with the storage and vocab writers directly
(tests must not depend on `repro prepare`). The task is learnable: the target is the source with every
word mapped to its "translation" and the order kept, so perplexity falls within a few dozen steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from repro.data.storage import RaggedArray
from repro.data.vocab import Vocab

TINY_MODEL = {"embedding_size": 16, "hidden_size": 16, "num_layers": 2}


def make_data_dir(path: str | Path, vocab: int = 24, sizes: dict[str, int] | None = None, max_len: int = 7,
                  seed: int = 0) -> Path:
    """Write DATA_DIR with train/valid/test splits of random sentences (lengths 1..max_len)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    sizes = sizes or {"train": 96, "valid": 24, "test": 16}
    rng = np.random.default_rng(seed)
    src_words = [f"s{i}" for i in range(vocab - 4)]
    tgt_words = [f"t{i}" for i in range(vocab - 4)]
    Vocab(src_words).save(path / "vocab.src.txt")
    Vocab(tgt_words).save(path / "vocab.tgt.txt")
    for split, n in sizes.items():
        lengths = rng.integers(1, max_len + 1, size=n)
        src = [rng.integers(4, vocab, size=int(k)) for k in lengths]
        # "translation": a fixed permutation of the word ids, plus a final word for long sentences
        tgt = [4 + (s - 4 + 3) % (vocab - 4) for s in src]
        tgt = [np.concatenate([t, [4]]) if len(t) > 4 else t for t in tgt]
        RaggedArray.from_sequences(src).save(path / f"{split}.src")
        RaggedArray.from_sequences(tgt).save(path / f"{split}.tgt")
        for side, seqs, words in (("src", src, src_words), ("tgt", tgt, tgt_words)):
            text = "".join(" ".join(words[i - 4] for i in s) + "\n" for s in seqs)
            (path / f"{split}.tok.{side}").write_text(text, encoding="utf-8")
    meta = {"format_version": 1, "source": "test-fixture", "src_lang": "en", "tgt_lang": "fr",
            "tokenizer": {"kind": "pretokenized"}, "src_vocab_size": vocab, "tgt_vocab_size": vocab,
            "splits": sizes, "config": {}}
    (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


def train_settings(**overrides) -> dict:
    """Small, fast `train:` settings: tiny batches, no progress bar, log every step."""
    settings = {"batch_size": 8, "epochs": 3, "lr": 0.5, "decay_start_epoch": 2, "log_every_steps": 1,
                "eval_every_epochs": 0.5, "save_every_steps": 5, "progress": False, "device": "cpu"}
    settings.update(overrides)
    return settings
