import json

import numpy as np
import pytest

from repro.data.storage import ParallelSplit, RaggedArray, RaggedWriter, load_split
from repro.errors import DataError


def test_writer_round_trip_is_memory_mapped(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 1000, size=int(n)).tolist() for n in rng.integers(0, 20, size=57)]
    writer = RaggedWriter(tmp_path / "train.src")
    for start in range(0, len(seqs), 10):
        writer.append_many(seqs[start:start + 10])
    array = writer.close()
    assert isinstance(array.ids, np.memmap) and array.ids.dtype == np.int32
    assert array.offsets.dtype == np.int64 and len(array) == len(seqs)
    assert [a.tolist() for a in array] == seqs
    assert not list(tmp_path.glob("*.tmp"))
    assert RaggedArray.from_sequences(seqs).lengths.tolist() == [len(s) for s in seqs]


def test_load_split_and_errors(tmp_path):
    RaggedArray.from_sequences([[1, 2], [3]]).save(tmp_path / "test.src")
    RaggedArray.from_sequences([[4], [5, 6, 7]]).save(tmp_path / "test.tgt")
    with pytest.raises(DataError, match="no meta.json"):
        load_split(tmp_path, "test")
    (tmp_path / "meta.json").write_text(json.dumps({}))
    split = load_split(tmp_path, "test")
    assert [x.tolist() for x in split[1]] == [[3], [5, 6, 7]]
    with pytest.raises(DataError, match="valid.src.ids.npy"):
        load_split(tmp_path, "valid")
    with pytest.raises(ValueError):
        ParallelSplit(RaggedArray.from_sequences([[1]]), RaggedArray.from_sequences([]), "x")


def test_append_arrays_matches_append_many(tmp_path):
    seqs = [[5, 6], [], [7, 8, 9]]
    a = RaggedWriter(tmp_path / "a")
    a.append_many(seqs)
    b = RaggedWriter(tmp_path / "b")
    b.append_arrays(np.array([5, 6, 7, 8, 9]), np.array([2, 0, 3]))
    with pytest.raises(ValueError, match="lengths sum to 4"):
        b.append_arrays(np.array([1, 2]), np.array([4]))
    x, y = a.close(), b.close()
    assert np.array_equal(x.ids, y.ids) and np.array_equal(x.offsets, y.offsets)


def test_load_meta_errors_name_the_file_and_line(tmp_path):
    import pytest

    from repro.data.storage import load_meta
    from repro.errors import DataError

    with pytest.raises(DataError, match="no meta.json"):
        load_meta(tmp_path)
    (tmp_path / "meta.json").write_text('{"src_lang": "en",\n  oops}\n')
    with pytest.raises(DataError, match=r"meta\.json, line 2: invalid JSON"):
        load_meta(tmp_path)
    (tmp_path / "meta.json").write_text('{"src_lang": "en"}')
    assert load_meta(tmp_path) == {"src_lang": "en"}
