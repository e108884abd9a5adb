import gzip

import pytest

from repro.data.sources.base import count_lines, open_binary
from repro.data.sources.local import LocalOptions, LocalSource, read_sgm, read_tsv
from repro.errors import DataError, ReproError
from repro.io import iter_text_lines


def read_lines(path):
    """How sources read a corpus: repro.io's streaming reader, gzip allowed."""
    return iter_text_lines(path, decompress=True)


def _source(**kw) -> LocalSource:
    seed = kw.pop("seed", 1)
    return LocalSource(LocalOptions(**kw), seed=seed)


def test_plain_gz_seeded_split_partitions_the_corpus(data_plain_files, data_pairs):
    src, tgt = data_plain_files
    source = _source(train_src=str(src), train_tgt=str(tgt), valid_size=10, test_size=7)
    splits = {s: list(source.iter_pairs(s)) for s in ("train", "valid", "test")}
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [103, 10, 7]
    assert sorted(p for s in splits.values() for p in s) == sorted(data_pairs)  # a partition, aligned
    again = _source(train_src=str(src), train_tgt=str(tgt), valid_size=10, test_size=7)
    assert list(again.iter_pairs("valid")) == splits["valid"]
    other = _source(train_src=str(src), train_tgt=str(tgt), valid_size=10, test_size=7, seed=2)
    assert list(other.iter_pairs("valid")) != splits["valid"]


def test_given_valid_file_and_carved_test(tmp_path, data_plain_files, data_pairs, write_lines):
    src, tgt = data_plain_files
    vs = write_lines(tmp_path / "v.en", ["Hello ."])
    vt = write_lines(tmp_path / "v.fr", ["Bonjour ."])
    source = _source(train_src=str(src), train_tgt=str(tgt), valid_src=str(vs), valid_tgt=str(vt), test_size=5)
    assert list(source.iter_pairs("valid")) == [("Hello .", "Bonjour .")]
    assert len(list(source.iter_pairs("test"))) == 5 and len(list(source.iter_pairs("train"))) == 115


def test_misaligned_files_name_both_files_and_counts(tmp_path, write_lines):
    src = write_lines(tmp_path / "a.en", ["x"] * 5)
    tgt = write_lines(tmp_path / "a.fr.gz", ["y"] * 4)
    for kw in ({"test_size": 1, "valid_size": 1}, {"valid_src": str(src), "valid_tgt": str(src),
                                                   "test_src": str(src), "test_tgt": str(src)}):
        source = _source(train_src=str(src), train_tgt=str(tgt), **kw)
        with pytest.raises(DataError) as err:
            list(source.iter_pairs("train"))
        message = str(err.value)
        assert "a.en" in message and "a.fr.gz" in message and "5" in message and "4" in message


def test_invalid_utf8_names_file_and_line(tmp_path, write_lines):
    src = tmp_path / "bad.en"
    src.write_bytes(b"fine\nalso fine\nbad \xff byte\n")
    tgt = write_lines(tmp_path / "bad.fr", ["a", "b", "c"])
    source = _source(train_src=str(src), train_tgt=str(tgt), valid_size=1, test_size=1)
    with pytest.raises(DataError, match=r"bad.en, line 3: invalid UTF-8"):
        list(source.iter_pairs("train"))


def test_tsv_tatoeba_format_and_malformed_line(tmp_path, write_lines):
    path = tmp_path / "fra.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("Go.\tVa !\tCC-BY 2.0 (France) Attribution\nHi.\tSalut !\n")
    assert list(read_tsv(path)) == [("Go.", "Va !"), ("Hi.", "Salut !")]
    assert list(read_tsv(path, 1, 0))[1] == ("Salut !", "Hi.")
    bad = write_lines(tmp_path / "bad.tsv", ["a\tb", "no tab here", "c\td"])
    with pytest.raises(DataError, match=r"bad.tsv, line 2: malformed tsv line"):
        list(read_tsv(bad))
    source = _source(format="tsv", train_src=str(path), valid_size=0, test_size=1)
    assert len(list(source.iter_pairs("train"))) == 1
    with pytest.raises(ReproError, match="holds both sides"):
        _source(format="tsv", train_src=str(path), train_tgt=str(path))


def test_sgm_sacrebleu_rule(tmp_path, write_lines):
    src = write_lines(tmp_path / "s.en.sgm", [
        '<srcset setid="x" srclang="any">', '<doc sysid="ref" docid="d1" origlang="en">',
        '<seg id="1">  Hello   world &amp; co </seg>', '<seg id="2">Second\tline.</seg>', "</doc>", "</srcset>"])
    tgt = write_lines(tmp_path / "r.fr.sgm", ['<seg id="1">Bonjour le monde</seg>', '<seg id="2">Deux.</seg>'])
    assert list(read_sgm(src)) == ["Hello world &amp; co", "Second line."]
    source = _source(format="sgm", train_src=str(src), train_tgt=str(tgt), valid_size=0, test_size=0)
    assert list(source.iter_pairs("train"))[1] == ("Second line.", "Deux.")
    short = write_lines(tmp_path / "short.fr.sgm", ['<seg id="1">Un</seg>'])
    with pytest.raises(DataError, match=r"2 sentences but .*short.fr.sgm has 1"):
        list(_source(format="sgm", train_src=str(src), train_tgt=str(short), valid_size=0,
                     test_size=0).iter_pairs("train"))
    broken = write_lines(tmp_path / "broken.sgm", ['<seg id="1">no end'])
    with pytest.raises(DataError, match=r"broken.sgm, line 1"):
        list(read_sgm(broken))


def test_bad_configuration_errors(tmp_path, data_plain_files):
    src, tgt = data_plain_files
    with pytest.raises(ReproError, match="train_src"):
        _source()
    with pytest.raises(ReproError, match="both valid_src and valid_tgt"):
        _source(train_src=str(src), train_tgt=str(tgt), valid_src=str(src))
    with pytest.raises(DataError, match="file not found"):
        _source(train_src=str(tmp_path / "missing.en"), train_tgt=str(tgt))
    with pytest.raises(ReproError, match=r"data.local.valid_size must be an integer >= 0, got -1"):
        _source(train_src=str(src), train_tgt=str(tgt), valid_size=-1)
    with pytest.raises(ReproError, match="unknown format"):
        _source(format="xml", train_src=str(src), train_tgt=str(tgt))
    with pytest.raises(DataError, match="too few"):
        list(_source(train_src=str(src), train_tgt=str(tgt), valid_size=100, test_size=20).iter_pairs("train"))


def test_a_leading_byte_order_mark_is_not_text(tmp_path, write_lines):
    bom = "\ufeff"
    plain = write_lines(tmp_path / "a.en", [bom + "Hello .", "World ."])
    packed = write_lines(tmp_path / "a.fr.gz", [bom + "Bonjour .", "Monde ."])
    assert list(read_lines(plain)) == ["Hello .", "World ."]
    assert list(read_lines(packed)) == ["Bonjour .", "Monde ."]
    tsv = write_lines(tmp_path / "fra.txt", [bom + "Go.\tVa !", "Hi.\tSalut !"])
    assert next(read_tsv(tsv)) == ("Go.", "Va !")
    sgm = write_lines(tmp_path / "s.sgm", [bom + '<seg id="1">Un</seg>'])
    assert list(read_sgm(sgm)) == ["Un"]
    source = _source(train_src=str(plain), train_tgt=str(packed), valid_size=0, test_size=0)
    assert next(source.iter_pairs("train")) == ("Hello .", "Bonjour .")


def test_a_directory_or_unreadable_input_is_a_data_error(tmp_path, monkeypatch, write_lines):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    tgt = write_lines(tmp_path / "a.fr", ["y"] * 4)
    for reader in (open_binary, read_lines, count_lines):
        with pytest.raises(DataError, match=r"corpus: is a directory, expected a text file$"):
            list(reader(corpus)) if reader is read_lines else reader(corpus)
    with pytest.raises(DataError, match=r"corpus: is a directory, expected a text file \(train file\)"):
        _source(train_src=str(corpus), train_tgt=str(tgt))  # at once, before any reading
    with pytest.raises(DataError, match=r"corpus: is a directory, expected a text file \(test file\)"):
        _source(train_src=str(tgt), train_tgt=str(tgt), test_src=str(tgt), test_tgt=str(corpus))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("repro.io.open", denied, raising=False)  # root ignores chmod, so simulate it
    with pytest.raises(DataError, match=r"a.fr: cannot read the file \(permission denied\)"):
        list(read_lines(tgt))


def test_a_gz_name_on_plain_text_is_a_data_error(tmp_path):
    fake = tmp_path / "train.en.gz"
    fake.write_text("not compressed\n")
    for reader in (lambda path: list(read_lines(path)), count_lines):
        with pytest.raises(DataError, match=r"train.en.gz: not a valid gzip file, though its name ends in .gz"):
            reader(fake)


def test_input_paths_are_the_given_files(tmp_path, data_plain_files, write_lines):
    src, tgt = data_plain_files
    tsv = write_lines(tmp_path / "v.tsv", ["a\tb"])
    source = _source(train_src=str(src), train_tgt=str(tgt), test_size=1)
    assert source.input_paths() == [src, tgt]
    assert _source(format="tsv", train_src=str(tsv), valid_src=str(tsv), test_size=0).input_paths() == [tsv, tsv]
