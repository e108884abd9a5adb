import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repro.data.config import PrepareConfig
from repro.data.prepare import prepare
from repro.data.sources.wmt14 import Wmt14Options, Wmt14Source
from repro.data.storage import load_split
from repro.errors import DataError


def _write_wmt14_parquet(path, pairs):
    """A parquet file with the Hugging Face ``wmt/wmt14`` row schema: {"translation": {"en", "fr"}}."""
    table = pa.table({"translation": [{"en": en, "fr": fr} for en, fr in pairs]})
    assert table.schema.field("translation").type == pa.struct([("en", pa.string()), ("fr", pa.string())])
    pq.write_table(table, path)
    return str(path)


@pytest.fixture
def data_wmt14_files(tmp_path, make_pairs):
    pairs = {"train": make_pairs(200, 1), "valid": make_pairs(15, 2), "test": make_pairs(12, 3)}
    files = {split: _write_wmt14_parquet(tmp_path / f"{split}.parquet", p) for split, p in pairs.items()}
    return files, pairs


def test_streams_parquet_through_the_datasets_loader(data_wmt14_files, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    files, pairs = data_wmt14_files
    source = Wmt14Source(Wmt14Options(data_files=files, max_train_pairs=50))
    assert list(source.iter_pairs("train")) == pairs["train"][:50]  # the first N streamed rows
    assert list(source.iter_pairs("test")) == pairs["test"]
    reverse = Wmt14Source(Wmt14Options(data_files=files), src_lang="fr", tgt_lang="en")
    assert list(reverse.iter_pairs("valid")) == [(fr, en) for en, fr in pairs["valid"]]


def test_hub_loader_maps_splits_and_cap_reads_no_more_rows():
    calls = []
    consumed = []

    def fake_hub(split):  # stands in for datasets.load_dataset("wmt/wmt14", "fr-en", streaming=True)
        calls.append(split)
        for i in range(10**9):
            consumed.append(i)
            yield {"translation": {"en": f"e{i}", "fr": f"f{i}"}}

    source = Wmt14Source(Wmt14Options(max_train_pairs=3), loader=fake_hub)
    assert list(source.iter_pairs("train")) == [("e0", "f0"), ("e1", "f1"), ("e2", "f2")]
    assert len(consumed) <= 4 and calls == ["train"]


def test_bad_rows_raise_data_error():
    source = Wmt14Source(loader=lambda split: [{"translation": {"en": "a"}}])
    with pytest.raises(DataError, match="row 0 is not"):
        list(source.iter_pairs("valid"))


def test_prepare_end_to_end_from_parquet(tmp_path, data_wmt14_files, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    files, pairs = data_wmt14_files
    config = PrepareConfig(source="wmt14", wmt14={"data_files": files, "max_train_pairs": 150}, workers=1)
    stats = prepare(config, tmp_path / "data", progress=False)
    assert stats["splits"]["train"]["input_pairs"] == 150
    assert len(load_split(tmp_path / "data", "test")) == 12
    raw = (tmp_path / "data" / "valid.raw.src").read_text(encoding="utf-8").splitlines()
    assert raw == [en for en, _ in pairs["valid"]]
