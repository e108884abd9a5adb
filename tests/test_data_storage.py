import json
from pathlib import Path

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


# --------------------------------------------------------------------------- checks of a prepared split
def _write_split(path: Path, src: list[list[int]], tgt: list[list[int]], meta: dict | None = None,
                 split: str = "train") -> Path:
    """A minimal prepared directory holding one split (and a meta.json naming both vocabulary sizes)."""
    path.mkdir(parents=True, exist_ok=True)
    RaggedArray.from_sequences(src).save(path / f"{split}.src")
    RaggedArray.from_sequences(tgt).save(path / f"{split}.tgt")
    meta = {"src_vocab_size": 10, "tgt_vocab_size": 8} if meta is None else meta
    (path / "meta.json").write_text(json.dumps(meta))
    return path


SRC = [[4, 5, 6], [7], [], [8, 9], [4, 4]]
TGT = [[4], [5, 6], [7], [4, 5, 6, 7], [5]]


def _truncate(path: Path, keep: int) -> None:
    """Keep the first ``keep`` bytes (negative: drop the last -keep), as a disk-full or killed copy does."""
    path.write_bytes(path.read_bytes()[:keep])


def _save_raw(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # np.save on a handle: the name stays exactly ``path``
        np.save(handle, array)


def _decreasing_offsets(d: Path) -> None:
    offsets = np.load(d / "train.src.offsets.npy")
    offsets[2] = offsets[1] - 1  # sentence 1 would end before it starts
    _save_raw(d / "train.src.offsets.npy", offsets)


@pytest.mark.parametrize("damage, file, message", [
    (lambda d: _truncate(d / "train.src.ids.npy", -4), "train.src.ids.npy",
     r"file is truncated: \d+ bytes, its header describes 8 int32 values"),
    (lambda d: _truncate(d / "train.tgt.offsets.npy", 20), "train.tgt.offsets.npy",
     r"not a readable \.npy array \(EOF: reading array header"),  # the header itself cut
    (lambda d: (d / "train.tgt.ids.npy").write_bytes(b"not an array at all" * 8), "train.tgt.ids.npy",
     r"not a readable \.npy array \(the magic string is not correct"),
    (lambda d: (d / "train.src.ids.npy").write_bytes(b""), "train.src.ids.npy", r"not a readable \.npy array"),
    (lambda d: (d / "train.src.ids.npy").open("ab").write(b"\0" * 8), "train.src.ids.npy",
     r"file is longer than its header says"),
    (lambda d: _save_raw(d / "train.src.ids.npy", np.zeros(10, np.float32)), "train.src.ids.npy",
     r"dtype float32, expected integers"),
    (lambda d: _save_raw(d / "train.src.ids.npy", np.zeros((5, 2), np.int32)), "train.src.ids.npy",
     r"shape \(5, 2\), expected a 1-D array"),
    (_decreasing_offsets, "train.src.offsets.npy", r"offsets decrease at sentence 1: offset 2 follows 3"),
    (lambda d: _save_raw(d / "train.src.offsets.npy", np.array([1, 3, 4, 4, 6, 8])), "train.src.offsets.npy",
     r"offsets start at 1, expected 0"),
    (lambda d: _save_raw(d / "train.src.offsets.npy", np.array([0, 3, 4, 4, 6, 7])), "train.src.offsets.npy",
     r"offsets end at 7 but train.src.ids.npy has 8 ids"),
    (lambda d: _save_raw(d / "train.src.offsets.npy", np.zeros(0, np.int64)), "train.src.offsets.npy",
     r"offsets array is empty"),
    (lambda d: RaggedArray.from_sequences(TGT[:4]).save(d / "train.tgt"), "train.src.offsets.npy",
     r"5 source sentences but train.tgt.offsets.npy has 4 target sentences"),
])
def test_a_damaged_split_is_a_data_error_naming_the_file(tmp_path, damage, file, message):
    d = _write_split(tmp_path / "d", SRC, TGT)
    assert len(load_split(d, "train")) == 5  # intact, it loads
    damage(d)
    with pytest.raises(DataError, match=message) as info:
        load_split(d, "train")
    text = str(info.value)
    assert text.startswith(str(d / file) + ": "), text
    assert "the data directory is damaged; re-run `repro prepare`" in text


@pytest.mark.parametrize("side, sentence, position, value, meta, source", [
    ("src", 3, 5, 10, None, r"\[0, 10\) \(meta.json src_vocab_size\)"),  # == vocab size: one past the end
    ("tgt", 1, 2, -1, None, r"\[0, 8\) \(meta.json tgt_vocab_size\)"),
    ("tgt", 3, 6, 9, {}, r"\[0, 9\) \(vocab.tgt.txt lines\)"),  # no size in meta.json: the vocab file's
])
def test_an_id_outside_the_vocabulary_names_sentence_position_value_and_range(tmp_path, side, sentence,
                                                                               position, value, meta, source):
    d = _write_split(tmp_path / "d", SRC, TGT, meta)
    if meta == {}:
        (d / "vocab.tgt.txt").write_text("".join(f"w{i}\n" for i in range(9)))
    ids = np.load(d / f"train.{side}.ids.npy")
    ids[position] = value
    _save_raw(d / f"train.{side}.ids.npy", ids)
    with pytest.raises(DataError, match=rf"train\.{side}\.ids\.npy: sentence {sentence} \(0-based\), "
                                        rf"position {position}: token id {value} is outside the vocabulary's "
                                        rf"valid range {source}"):
        load_split(d, "train")


def test_the_first_bad_id_is_found_across_search_slices(tmp_path, monkeypatch):
    from repro.data import storage

    # slices of 3 ids: the first bad id is in the second slice, another in the third; position 4 starts
    # both the empty sentence 2 and sentence 3, and it belongs to sentence 3
    monkeypatch.setattr(storage, "_CHUNK", 3)
    d = _write_split(tmp_path / "d", SRC, TGT)
    ids = np.load(d / "train.src.ids.npy")
    ids[4], ids[7] = 11, 12
    _save_raw(d / "train.src.ids.npy", ids)
    with pytest.raises(DataError, match=r"sentence 3 \(0-based\), position 4: token id 11 "):
        load_split(d, "train")


def test_a_split_without_a_recorded_vocabulary_size_skips_only_the_range_check(tmp_path):
    d = _write_split(tmp_path / "d", SRC, [[999]] * 5, meta={})
    assert [t.tolist() for t in load_split(d, "train").tgt] == [[999]] * 5
    (d / "meta.json").write_text(json.dumps({"src_vocab_size": 10, "tgt_vocab_size": "many"}))
    with pytest.raises(DataError, match=r"meta\.json: tgt_vocab_size must be a positive integer, got 'many'"):
        load_split(d, "train")


def test_loading_in_memory_is_checked_too(tmp_path):
    d = _write_split(tmp_path / "d", SRC, TGT)
    assert not isinstance(load_split(d, "train", mmap=False).src.ids, np.memmap)
    _truncate(d / "train.src.ids.npy", -4)  # np.load without mmap would say "cannot reshape"
    with pytest.raises(DataError, match=r"train\.src\.ids\.npy: file is truncated"):
        load_split(d, "train", mmap=False)


def test_a_full_disk_is_named_as_such_not_as_damaged_offsets(tmp_path, full_disk):
    import repro.data.storage
    from repro.errors import ReproError

    full_disk(repro.data.storage, ".raw.tmp")  # the encoded ids never reach the disk
    writer = RaggedWriter(tmp_path / "train.src")
    with pytest.raises(ReproError, match=r"train\.src\.ids\.raw\.tmp: could not be written \(.*MB free on its "
                                         r"filesystem\); free some space"):
        writer.append_many([[1, 2, 3]] * 5000)
        writer.close()
