"""What a training run builds from its data directory: the model config (vocabulary sizes come from
meta.json) and the training data (the checked splits and the batch sampler over the kept pairs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repro.data.sampling import BatchSampler
from repro.data.storage import ParallelSplit, load_meta, load_split
from repro.errors import ReproError
from repro.models.seq2seq import ModelConfig
from repro.train.config import TrainConfig


def model_config_for(data_dir: str | Path, model_section: dict[str, Any] | None) -> ModelConfig:
    """ModelConfig from the ``model:`` section; vocabulary sizes come from the data directory."""
    from repro.config import dataclass_from_dict
    from repro.models.config import DATA_DEFINED_KEYS

    meta = read_meta(data_dir)
    values = dict(model_section or {})
    for key in DATA_DEFINED_KEYS:
        if key in values:
            raise ReproError(f"config section 'model': {key} comes from the data directory "
                             f"({data_dir}/meta.json), remove it from the config")
    values["src_vocab_size"] = int(meta["src_vocab_size"])
    values["tgt_vocab_size"] = int(meta["tgt_vocab_size"])
    return dataclass_from_dict(ModelConfig, values, "model")  # a ConfigError names the key


def read_meta(data_dir: str | Path) -> dict[str, Any]:
    """The data directory's meta.json, which must name both vocabulary sizes."""
    meta = load_meta(data_dir)
    for key in ("src_vocab_size", "tgt_vocab_size"):
        if key not in meta:
            raise ReproError(f"{Path(data_dir) / 'meta.json'}: missing key {key!r}")
    return meta


@dataclass
class TrainData:
    train_split: ParallelSplit
    valid_split: ParallelSplit
    sampler: BatchSampler  # over the kept training pairs only
    train_pairs: int  # training pairs kept (non-empty source, within train.max_len)


def load_train_data(data_dir: str | Path, cfg: TrainConfig) -> TrainData:
    """Open and check (``load_split``: readable arrays, offsets, ids within the vocabularies) the splits
    training reads; a damaged data directory is a DataError here."""
    train_split = load_split(data_dir, "train")
    valid_split = load_split(data_dir, "valid")
    src_len, tgt_len = train_split.src.lengths, train_split.tgt.lengths
    keep = src_len >= 1  # an empty source has nothing to encode
    if cfg.max_len is not None:
        keep &= (src_len <= cfg.max_len) & (tgt_len <= cfg.max_len)
    sampler = BatchSampler(src_len, tgt_len, cfg.batch_size, batch_by=cfg.batch_by, max_tokens=cfg.max_tokens,
                           bucketing=cfg.bucketing, pool_batches=cfg.bucket_pool_batches, seed=cfg.seed,
                           indices=np.flatnonzero(keep))
    return TrainData(train_split=train_split, valid_split=valid_split, sampler=sampler,
                     train_pairs=int(keep.sum()))
