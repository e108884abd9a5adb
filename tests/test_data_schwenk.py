"""Schwenk's layout served by a tiny local HTTP server with Range support, through the real download code."""

import hashlib
import http.server
import io
import tarfile
import threading
import warnings

import pytest

from repro.data.config import PrepareConfig
from repro.data.prepare import prepare
from repro.data.sources.schwenk import TRAIN_CORPORA, SchwenkOptions, SchwenkSource, download
from repro.data.storage import load_split
from repro.errors import DataError, ReproError


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _gz(text: str) -> bytes:
    import gzip

    return gzip.compress(text.encode("utf-8"))


@pytest.fixture
def data_schwenk_server():
    """Serve Schwenk-style bitexts.tgz and dev+test.tgz; record Range headers seen."""
    train = {}
    for i, corpus in enumerate(TRAIN_CORPORA):
        en = "".join(f"the {corpus} sentence {j} , tokenized .\n" for j in range(3 + i))
        fr = "".join(f"la phrase {corpus} {j} , tokenisée .\n" for j in range(3 + i))
        train[f"bitexts.selected/{corpus}.en.gz"] = _gz(en)
        train[f"bitexts.selected/{corpus}.fr.gz"] = _gz(fr)
    dev = {"dev/ntst1213.en": b"dev one .\ndev two .\n", "dev/ntst1213.fr": b"dev un .\ndev deux .\n",
           "dev/ntst14.en": b"it 's a test .\n", "dev/ntst14.fr": b"c' est un test .\n"}
    files = {"bitexts.tgz": _tar(train), "dev+test.tgz": _tar(dev)}
    ranges: list[str | None] = []
    files["ignore_range"] = False  # a test sets True to play a server without Range support

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            ignore_range = files["ignore_range"]
            if name not in files or name == "ignore_range":
                self.send_error(404)
                return
            data = files[name]
            header = None if ignore_range else self.headers.get("Range")
            ranges.append(header)
            start = int(header.split("=")[1].rstrip("-")) if header else 0
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206 if header else 200)
            if header:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cslm/data/", files, ranges
    server.shutdown()
    server.server_close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_resumes_a_partial_download_with_range(tmp_path, data_schwenk_server):
    base, files, ranges = data_schwenk_server
    data = files["dev+test.tgz"]
    dest = tmp_path / "dev+test.tgz"
    (tmp_path / "dev+test.tgz.part").write_bytes(data[:100])
    download(base + "dev+test.tgz", dest, _md5(data), progress=False)
    assert ranges == ["bytes=100-"]
    assert dest.read_bytes() == data and not (tmp_path / "dev+test.tgz.part").exists()
    download(base + "dev+test.tgz", dest, _md5(data), progress=False)  # already complete: no request
    assert len(ranges) == 1


def test_server_without_range_support_restarts_from_zero(tmp_path, data_schwenk_server):
    base, files, ranges = data_schwenk_server
    files["ignore_range"] = True
    data = files["dev+test.tgz"]
    (tmp_path / "dev+test.tgz.part").write_bytes(b"garbage that must not stay at the front")
    download(base + "dev+test.tgz", tmp_path / "dev+test.tgz", _md5(data), progress=False)
    assert (tmp_path / "dev+test.tgz").read_bytes() == data and ranges == [None]


def test_checksum_mismatch_deletes_and_raises(tmp_path, data_schwenk_server):
    base, files, _ = data_schwenk_server
    dest = tmp_path / "bitexts.tgz"
    with pytest.raises(DataError, match=r"bitexts.tgz: md5 mismatch: expected 0+"):
        download(base + "bitexts.tgz", dest, "0" * 32, progress=False)
    assert not dest.exists()
    with pytest.warns(UserWarning, match="no md5 known"):
        download(base + "bitexts.tgz", dest, None, progress=False)
    with pytest.raises(ReproError, match="HTTP 404"):
        download(base + "missing.tgz", tmp_path / "missing.tgz", None, progress=False)


def test_source_reads_schwenk_layout_pretokenized(tmp_path, data_schwenk_server):
    base, files, _ = data_schwenk_server
    options = SchwenkOptions(base_url=base, cache_dir=str(tmp_path / "cache"),
                             md5={"bitexts.tgz": _md5(files["bitexts.tgz"]), "dev+test.tgz": _md5(files["dev+test.tgz"])})
    source = SchwenkSource(options, progress=False)
    train = list(source.iter_pairs("train"))
    assert len(train) == sum(3 + i for i in range(len(TRAIN_CORPORA)))
    assert train[0] == ("the ep7_pc45 sentence 0 , tokenized .", "la phrase ep7_pc45 0 , tokenisée .")
    assert list(source.iter_pairs("test")) == [("it 's a test .", "c' est un test .")]
    assert source.pretokenized

    config = PrepareConfig(source="schwenk", workers=1, schwenk={
        "base_url": base, "cache_dir": str(tmp_path / "cache"), "train_corpora": ["nc9", "crawl"],
        "md5": {"bitexts.tgz": None, "dev+test.tgz": _md5(files["dev+test.tgz"])}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare(config, tmp_path / "data", progress=False)
    assert (tmp_path / "data" / "test.tok.src").read_text() == "it 's a test .\n"  # not tokenized twice
    assert len(load_split(tmp_path / "data", "train")) == 4 + 6
    import json

    assert json.loads((tmp_path / "data" / "meta.json").read_text())["tokenizer"]["kind"] == "pretokenized"


def test_bad_options():
    with pytest.raises(ReproError, match="unknown"):
        SchwenkSource(SchwenkOptions(train_corpora=["europarl"]))
    with pytest.raises(ReproError, match="en and fr"):
        SchwenkSource(SchwenkOptions(), src_lang="de", tgt_lang="fr")
