"""Fixtures shared by several test modules (tests never import one another: helpers are fixtures here).

Data tests: ``make_pairs``, ``write_lines`` and the ``data_*`` fixtures; download tests: ``file_server``
(a local HTTP server with Range support, no internet). Training tests: ``make_data_dir``
(a tiny prepared data directory, written with the storage and vocab writers directly, so that they do not
depend on `repro prepare`), ``tiny_model`` and ``train_settings``.

Markers for bf16 (CPUs differ: AMX, AVX512-BF16, or AVX2 only, where PyTorch emulates bf16 and oneDNN has
no bf16 LSTM kernel): ``native_bf16`` tests check bf16 arithmetic and run only where the CPU has it;
``bf16_fallback`` tests check the documented fallback (a notice, then fp32, the same numbers as fp32) and
run only where it has not. Each is skipped elsewhere with the reason printed. ``ONEDNN_MAX_CPU_ISA=AVX2``
makes a bf16 CPU act like an AVX2-only one, so both kinds run on a bf16 machine (``.ci/run`` does both).
"""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from repro.data.storage import RaggedArray
from repro.data.vocab import Vocab
from repro.device import bf16_unsupported_reason

_EN = ["the", "cat", "dog", "sees", "a", "big", "red", "house", "runs", "well-known", "man's", "garden"]
_FR = ["le", "chat", "chien", "voit", "une", "grande", "rouge", "maison", "court", "célèbre", "l'homme", "jardin"]


def _make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` small deterministic English/French-looking pairs with punctuation and accents."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        k = rng.randint(2, 9)
        words = rng.sample(range(len(_EN)), k)
        en = " ".join(_EN[w] for w in words).capitalize() + f" {i}."
        fr = " ".join(_FR[w] for w in words).capitalize() + f" {i} !"
        pairs.append((en, fr))
    return pairs


def _write_lines(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def data_pairs() -> list[tuple[str, str]]:
    return _make_pairs(120)


@pytest.fixture
def data_plain_files(tmp_path, data_pairs) -> tuple[Path, Path]:
    """Aligned gzip files train.en.gz / train.fr.gz of ``data_pairs``."""
    src = _write_lines(tmp_path / "train.en.gz", [s for s, _ in data_pairs])
    tgt = _write_lines(tmp_path / "train.fr.gz", [t for _, t in data_pairs])
    return src, tgt


@pytest.fixture(scope="session")
def make_pairs() -> Callable[..., list[tuple[str, str]]]:
    """``make_pairs(n, seed=0)``: small deterministic English/French-looking pairs."""
    return _make_pairs


@pytest.fixture(scope="session")
def write_lines() -> Callable[[Path, list[str]], Path]:
    """``write_lines(path, lines)``: write lines as UTF-8, gzipped when ``path`` ends in ``.gz``."""
    return _write_lines


# ----------------------------------------------------------------------------------- bf16 markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(item.get_closest_marker(name) for item in items for name in ("native_bf16", "bf16_fallback")):
        return
    reason = bf16_unsupported_reason(torch.device("cpu"))  # probed once: an LSTM under bf16 autocast
    if reason is None:
        skip = ("bf16_fallback", "this CPU runs bf16 natively; the fp32 fallback is checked where it does not "
                                 "(ONEDNN_MAX_CPU_ISA=AVX2 makes oneDNN act like such a CPU)")
    else:
        skip = ("native_bf16", f"checks bf16 arithmetic, which needs native bf16: {reason}")
    for item in items:
        if item.get_closest_marker(skip[0]):
            item.add_marker(pytest.mark.skip(reason=skip[1]))


# ----------------------------------------------------------------------------------- HTTP
@dataclass
class FileServer:
    """Serves files under ``root``; records ``(path, Range header)`` of every GET.

    drop_after: send only this many body bytes of the next response, then close the connection (once).
    ignore_range: answer 200 with the whole file even to a Range request.
    delay: seconds to wait before answering.
    """

    root: Path
    url: str = ""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    drop_after: int | None = None
    ignore_range: bool = False
    delay: float = 0.0


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append((self.path, self.headers.get("Range")))
            time.sleep(server.delay)
            path = server.root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            start = 0
            if match and not server.ignore_range:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if server.drop_after is not None:
                body, server.drop_after = body[: server.drop_after], None
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(root: Path) -> Iterator[FileServer]:
    """A ``FileServer`` for ``root`` on a free local port, running in a background thread."""
    server = FileServer(root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def file_server(tmp_path) -> Iterator[FileServer]:
    root = tmp_path / "served"
    root.mkdir()
    with serving(root) as server:
        yield server


# ----------------------------------------------------------------------------------- training
# The task is learnable: the target is the source with every word mapped to its "translation" and the
# order kept, so perplexity falls within a few dozen steps.
_TINY_MODEL = {"embedding_size": 16, "hidden_size": 16, "num_layers": 2}


def _make_data_dir(path: str | Path, vocab: int = 24, sizes: dict[str, int] | None = None, max_len: int = 7,
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


def _train_settings(**overrides) -> dict:
    """Small, fast `train:` settings: tiny batches, no progress bar, log every step."""
    settings = {"batch_size": 8, "epochs": 3, "lr": 0.5, "decay_start_epoch": 2, "log_every_steps": 1,
                "eval_every_epochs": 0.5, "save_every_steps": 5, "progress": False, "device": "cpu"}
    settings.update(overrides)
    return settings


@pytest.fixture(scope="session")
def make_data_dir() -> Callable[..., Path]:
    return _make_data_dir


@pytest.fixture
def tiny_model() -> dict:
    """A small ``model:`` section: 2 layers of 16 cells (a fresh dict: tests may extend it)."""
    return dict(_TINY_MODEL)


@pytest.fixture(scope="session")
def train_settings() -> Callable[..., dict]:
    return _train_settings


@pytest.fixture
def full_disk(monkeypatch) -> Callable[[object, str], None]:
    """``full_disk(module, suffix)``: a file ``module`` opens whose name ends in ``suffix`` is created, but
    what is written to it goes to /dev/full, where the kernel answers ENOSPC as on a full disk."""
    import builtins

    def apply(module: object, suffix: str) -> None:
        def opener(path, *args, **kwargs):
            if str(path).endswith(suffix):
                builtins.open(path, "wb").close()
                path = "/dev/full"
            return builtins.open(path, *args, **kwargs)

        monkeypatch.setattr(module, "open", opener, raising=False)
    return apply


# ----------------------------------------------------------------------------------- workflow
REPO = Path(__file__).resolve().parents[1]


def _copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    shutil.copytree(REPO / "workflows", dest / "workflows")
    shutil.copy2(REPO / "environment.yml", dest / "environment.yml")  # the rules' conda: env
    return dest


# A ceiling that only catches a hang: a tiny experiment takes about 2 minutes on a quiet 2-core machine,
# several times that on a busy one.
SUBPROCESS_CEILING_S = 1800


def _snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_CEILING_S,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.fixture(scope="session")
def copy_workflow() -> Callable[[Path], Path]:
    """``copy_workflow(dest)``: the Snakefile, workflows/ and environment.yml copied to ``dest``, so that a
    test runs Snakemake without writing into the repository's work/ or results/."""
    return _copy_workflow


@pytest.fixture(scope="session")
def hang_ceiling_s() -> int:
    """Seconds a test's subprocess may take before it counts as hung (never a speed limit)."""
    return SUBPROCESS_CEILING_S


@pytest.fixture(scope="session")
def snakemake() -> Callable[..., subprocess.CompletedProcess]:
    """``snakemake(cwd, *args, check=True)``: run Snakemake; with ``check``, a failure shows its output."""
    return _snakemake


@pytest.fixture(scope="session")
def job_counts() -> Callable[[str], dict[str, int]]:
    return _job_counts
