"""Prepare a corpus the paper's way: tokenize, clean, build vocabularies, integer-encode, write DATA_DIR.

Pipeline (see docs/ARCHITECTURE.md, "Prepared data directory"), everything inside ``repro.io.atomic_dir``:

1. for each split, stream raw pairs from the source in chunks to worker processes that tokenize them
   (one tokenizer per process, built once); results come back in order; the main process cleans them,
   writes ``{split}.raw.*`` / ``{split}.tok.*`` and counts training words;
2. keep the K most frequent words per side (``Vocab.build``);
3. stream the tokenized files back, encode them, and append them to memory-mapped ``{split}.*.ids.npy``
   via ``RaggedWriter`` — no split is ever held in Python lists;
4. write ``stats.json`` and ``meta.json``.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from repro.data.clean import REASONS, Cleaner, n_tokens
from repro.data.config import PrepareConfig, make_source
from repro.data.sources import ParallelSource
from repro.data.storage import (
    SPLITS,
    RaggedWriter,
    load_meta,  # noqa: F401  (public here too)
)
from repro.data.tokenize import build_tokenizer
from repro.data.vocab import UNK_ID, Vocab
from repro.errors import DataError, ReproError
from repro.io import atomic_dir, check_output_dir, iter_text_lines

FORMAT_VERSION = 1


def tokenizer_settings(config: PrepareConfig, source: ParallelSource) -> dict[str, Any]:
    """The ``meta.json["tokenizer"]`` entry: everything needed to rebuild the tokenizers."""
    kind = config.tokenizer
    if source.pretokenized and kind == "moses":
        kind = "pretokenized"  # never tokenize twice
    settings: dict[str, Any] = {"kind": kind, "lowercase": config.lowercase}
    if kind == "moses":
        settings.update(library="sacremoses", escape=False, aggressive_dash_splits=config.aggressive_dash_splits,
                        normalize_punctuation=config.normalize_punctuation)
    elif kind == "sentencepiece":
        settings.update(src_model="spm.src.model", tgt_model="spm.tgt.model", vocab_size=config.spm_vocab_size,
                        model_type=config.spm_model_type, input_pretokenized=source.pretokenized)
    return settings


# --- worker processes ---------------------------------------------------------------------------------
# Workers do all per-sentence work (tokenize, clean, histogram, word counts, encoding); the main process
# only reads the source, writes the returned text blocks and merges small counters, so it does not compete
# with the workers for cores.
_WORKER: dict[str, Any] = {}


def _init_tokenize_worker(settings: dict[str, Any], src_lang: str, tgt_lang: str, data_dir: str,
                          max_len: int | None, max_len_ratio: float | None) -> None:
    _WORKER.clear()
    _WORKER.update(src=build_tokenizer(settings, "src", src_lang, data_dir),
                   tgt=build_tokenizer(settings, "tgt", tgt_lang, data_dir),
                   max_len=max_len, max_len_ratio=max_len_ratio)


def _tokenize_chunk(task: tuple[list[tuple[str, str]], bool]) -> dict[str, Any]:
    """Tokenize and clean one chunk; return text blocks to write, histograms, drops and word counts."""
    chunk, is_train = task
    src_tok, tgt_tok = _WORKER["src"], _WORKER["tgt"]
    cleaner = Cleaner(_WORKER["max_len"], _WORKER["max_len_ratio"], filter_length=is_train)
    keep = cleaner.keep
    raw_s: list[str] = []
    raw_t: list[str] = []
    tok_s: list[str] = []
    tok_t: list[str] = []
    len_s: list[int] = []
    len_t: list[int] = []
    for src, tgt in chunk:
        ts, tt = src_tok.tokenize_str(src), tgt_tok.tokenize_str(tgt)
        ns, nt = n_tokens(ts), n_tokens(tt)
        if keep(ns, nt):
            raw_s.append(src)
            raw_t.append(tgt)
            tok_s.append(ts)
            tok_t.append(tt)
            len_s.append(ns)
            len_t.append(nt)
    words = None
    if is_train:
        words = (Counter(" ".join(tok_s).split(" ")) if tok_s else Counter(),
                 Counter(" ".join(tok_t).split(" ")) if tok_t else Counter())
    blocks = tuple("".join(line + "\n" for line in lines) for lines in (raw_s, raw_t, tok_s, tok_t))
    return {"n": len(chunk), "kept": len(tok_s), "blocks": blocks, "dropped": cleaner.dropped,
            "hist": (Counter(len_s), Counter(len_t)), "words": words}


def _init_encode_worker(src_itos: list[str], tgt_itos: list[str]) -> None:
    _WORKER.clear()
    _WORKER.update(src=Vocab(src_itos[4:]), tgt=Vocab(tgt_itos[4:]))


def _encode_chunk(task: tuple[str, list[str]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Encode tokenized lines into (flat int32 ids, int64 lengths, UNK count)."""
    side, lines = task
    stoi = _WORKER[side].stoi
    lengths = np.fromiter((n_tokens(line) for line in lines), dtype=np.int64, count=len(lines))
    flat = " ".join(lines).split(" ") if lines else []
    ids = np.fromiter((stoi.get(t, UNK_ID) for t in flat if t), dtype=np.int32)
    if ids.size != int(lengths.sum()):
        raise DataError(f"tokenized {side} text has an empty token (double space); rerun `repro prepare`")
    return ids, lengths, int(np.count_nonzero(ids == UNK_ID))


class WorkerPool:
    """Run a chunk function in worker processes (or in-process for 1 worker), results in input order.

    At most ``2 × workers`` chunks are in flight, so a 12M-pair source is never read ahead into memory.
    """

    def __init__(self, workers: int, initializer, initargs: tuple) -> None:
        self.workers = workers
        self._pool = None
        if workers > 1:
            self._pool = multiprocessing.get_context().Pool(workers, initializer, initargs)
        else:
            initializer(*initargs)

    def imap(self, function, tasks: Iterable) -> Iterator:
        if self._pool is None:
            for task in tasks:
                yield function(task)
            return
        window: deque = deque()
        for task in tasks:
            window.append(self._pool.apply_async(function, (task,)))
            if len(window) >= 2 * self.workers:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._pool is not None:
            if exc_type is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
            self._pool = None


def _chunks(pairs: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for src, tgt in pairs:
        if "\n" in src or "\r" in src:
            src = " ".join(src.split())
        if "\n" in tgt or "\r" in tgt:
            tgt = " ".join(tgt.split())
        chunk.append((src, tgt))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- the pipeline -------------------------------------------------------------------------------------
def _open_w(path: Path):
    return open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20)


def _line_chunks(path: Path, size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in iter_text_lines(path):
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _tokenize_split(split: str, pairs: Iterable[tuple[str, str]], pool: WorkerPool, out: Path,
                    config: PrepareConfig, counters: tuple[Counter, Counter] | None,
                    progress: bool) -> dict[str, Any]:
    """Tokenize, clean and write one split's raw and tokenized text; count words if ``counters``."""
    from tqdm.auto import tqdm

    is_train = counters is not None
    hist_src: Counter = Counter()
    hist_tgt: Counter = Counter()
    dropped: Counter = Counter()
    seen = kept = 0
    files = [_open_w(out / f"{split}.{kind}.{side}") for kind in ("raw", "tok") for side in ("src", "tgt")]
    try:
        with tqdm(desc=f"tokenize {split}", unit=" pairs", disable=not progress, mininterval=1.0) as bar:
            tasks = ((chunk, is_train) for chunk in _chunks(pairs, config.chunk_size))
            for result in pool.imap(_tokenize_chunk, tasks):
                for handle, block in zip(files, result["blocks"]):
                    handle.write(block)
                hist_src.update(result["hist"][0])
                hist_tgt.update(result["hist"][1])
                dropped.update(result["dropped"])
                if counters is not None:
                    counters[0].update(result["words"][0])
                    counters[1].update(result["words"][1])
                seen += result["n"]
                kept += result["kept"]
                bar.update(result["n"])
    finally:
        for handle in files:
            handle.close()
    dropped_dict = {reason: int(dropped.get(reason, 0)) for reason in REASONS}
    if kept == 0:
        raise DataError(
            f"split '{split}' is empty after cleaning ({seen} input pairs; dropped: "
            + ", ".join(f"{k}={v}" for k, v in dropped_dict.items()) + ")"
        )
    return {"input_pairs": seen, "pairs": kept, "dropped": dropped_dict,
            "length_histogram": {"src": _hist(hist_src), "tgt": _hist(hist_tgt)}}


def _hist(counter: Counter) -> dict[str, int]:
    return {str(k): int(counter[k]) for k in sorted(counter)}


def _encode_split(split: str, out: Path, pool: WorkerPool, chunk_size: int) -> dict[str, Any]:
    """Stream ``{split}.tok.*`` through the workers into memory-mapped id arrays; count tokens and UNKs."""
    stats: dict[str, Any] = {}
    for side in ("src", "tgt"):
        writer = RaggedWriter(out / f"{split}.{side}")
        tokens = unks = 0
        try:
            tasks = ((side, lines) for lines in _line_chunks(out / f"{split}.tok.{side}", chunk_size))
            for ids, lengths, n_unk in pool.imap(_encode_chunk, tasks):
                writer.append_arrays(ids, lengths)
                tokens += ids.size
                unks += n_unk
        finally:
            array = writer.close()
        stats[f"{side}_tokens"] = tokens
        stats[f"{side}_unk_tokens"] = unks
        stats[f"{side}_oov_rate"] = unks / tokens if tokens else 0.0
        stats[f"{side}_sentences"] = len(array)
    return stats


def _train_sentencepiece(config: PrepareConfig, out: Path, workers: int) -> None:
    import sentencepiece as spm

    for side in ("src", "tgt"):
        try:
            spm.SentencePieceTrainer.train(
                input=str(out / f".stage.train.{side}"), model_prefix=str(out / f"spm.{side}"),
                vocab_size=config.spm_vocab_size, model_type=config.spm_model_type,
                character_coverage=config.spm_character_coverage,
                input_sentence_size=config.spm_input_sentence_size, shuffle_input_sentence=True,
                num_threads=max(1, workers), minloglevel=2,
            )
        except RuntimeError as exc:
            raise ReproError(f"sentencepiece training failed for the {side} side: {exc} "
                             "(a smaller data.spm_vocab_size may help on small corpora)") from exc
        (out / f"spm.{side}.vocab").unlink(missing_ok=True)


def _stage_pairs(pairs: Iterable[tuple[str, str]], out: Path) -> None:
    with _open_w(out / ".stage.train.src") as fs, _open_w(out / ".stage.train.tgt") as ft:
        for chunk in _chunks(pairs, 10000):
            fs.write("".join(s + "\n" for s, _ in chunk))
            ft.write("".join(t + "\n" for _, t in chunk))


# Every key prepare writes to meta.json (format 1): a directory whose meta.json has them all was
# written by `repro prepare` (or is a run's copy of one), so replacing it loses nothing.
META_KEYS = ("format_version", "source", "src_lang", "tgt_lang", "tokenizer", "src_vocab_size", "tgt_vocab_size",
             "splits", "config")
WRITER = "`repro prepare`"


def is_prepared_dir(path: str | Path) -> bool:
    """Whether ``path`` is a data directory that ``repro prepare`` wrote (see ``META_KEYS``)."""
    try:
        meta = json.loads((Path(path) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and all(key in meta for key in META_KEYS)


def _replaceable(path: Path) -> bool:
    """A prepared directory that holds nothing else a user would lose: ``repro prepare`` writes only
    files, so a folder inside (a run trained into it, say) makes it the user's."""
    return is_prepared_dir(path) and not any(entry.is_dir() for entry in path.iterdir())


def prepare(config: PrepareConfig, out_dir: str | Path, source: ParallelSource | None = None,
            progress: bool = True, inputs: Iterable[str | Path] = ()) -> dict[str, Any]:
    """Prepare ``out_dir`` from ``config`` (or an explicit ``source``); return the stats dict.

    ``out_dir`` is replaced only if it is absent, empty or a prepared directory, and never if it holds
    the source's files or ``inputs`` (e.g. the config file): see ``repro.io.check_output_dir``.
    """
    source = source or make_source(config)
    out_dir = Path(out_dir)
    protected = [*source.input_paths(), *inputs]
    check_output_dir(out_dir, _replaceable, protected, WRITER)  # refuse before the download and the work
    workers = config.workers or os.cpu_count() or 1
    settings = tokenizer_settings(config, source)
    started = time.perf_counter()
    source.fetch()
    with atomic_dir(out_dir, _replaceable, protected, WRITER) as out:
        train_pairs: Iterable[tuple[str, str]] = source.iter_pairs("train")
        if settings["kind"] == "sentencepiece":
            _stage_pairs(train_pairs, out)
            _train_sentencepiece(config, out, workers)
            train_pairs = zip(iter_text_lines(out / ".stage.train.src"), iter_text_lines(out / ".stage.train.tgt"))
        counters: tuple[Counter, Counter] = (Counter(), Counter())
        split_stats: dict[str, dict[str, Any]] = {}
        tokenize_args = (settings, config.src_lang, config.tgt_lang, str(out), config.max_len,
                         config.max_len_ratio)
        with WorkerPool(workers, _init_tokenize_worker, tokenize_args) as pool:
            for split in SPLITS:
                pairs = train_pairs if split == "train" else source.iter_pairs(split)
                split_stats[split] = _tokenize_split(split, pairs, pool, out, config,
                                                     counters if split == "train" else None, progress)
        for side in ("src", "tgt"):
            (out / f".stage.train.{side}").unlink(missing_ok=True)

        src_vocab = Vocab.build(counters[0], config.src_vocab_size)
        tgt_vocab = Vocab.build(counters[1], config.tgt_vocab_size)
        src_vocab.save(out / "vocab.src.txt")
        tgt_vocab.save(out / "vocab.tgt.txt")
        vocab_stats = {
            "src": {"size": len(src_vocab), "train_types": len(counters[0])},
            "tgt": {"size": len(tgt_vocab), "train_types": len(counters[1])},
        }
        del counters

        with WorkerPool(workers, _init_encode_worker, (src_vocab.itos, tgt_vocab.itos)) as pool:
            for split in SPLITS:
                encoded = _encode_split(split, out, pool, max(config.chunk_size, 10000))
                if not encoded.pop("src_sentences") == encoded.pop("tgt_sentences") == split_stats[split]["pairs"]:
                    raise DataError(f"internal error: {split} ids and text disagree in length", out)
                split_stats[split].update(encoded)

        stats = {"source": source.describe(), "tokenizer": settings, "vocab": vocab_stats,
                 "splits": split_stats, "workers": workers,
                 "wall_time_s": round(time.perf_counter() - started, 3)}
        meta = {
            "format_version": FORMAT_VERSION,
            "source": source.name,
            "src_lang": config.src_lang,
            "tgt_lang": config.tgt_lang,
            "tokenizer": settings,
            "src_vocab_size": len(src_vocab),
            "tgt_vocab_size": len(tgt_vocab),
            "splits": {split: split_stats[split]["pairs"] for split in SPLITS},
            "config": dataclasses.asdict(config),
        }
        (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _apply_umask(out)
    return stats


def _apply_umask(directory: Path) -> None:
    """Temporary files are created private (0600/0700); give the result the user's usual permissions."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)


