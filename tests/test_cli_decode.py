"""`repro translate / score / rescore / encode` end to end on tiny run directories written here."""

from __future__ import annotations

import copy
import io
import json
import math
import os
import sys

import numpy as np
import pytest
import torch
import yaml

from repro.cli import main
from repro.data.storage import RaggedArray
from repro.data.vocab import Vocab
from repro.evaluation.bleu import corpus_bleu_paper
from repro.inference.beam_search import beam_search
from repro.inference.ensemble import Ensemble
from repro.models.seq2seq import ModelConfig, Seq2Seq
from repro.train.checkpoint import copy_data_files, load_run, save_checkpoint
from repro.train.run_info import RunInfo, Status, write_run_info

SRC_WORDS = "the cat dog sat on a mat red big , . hello world !".split()
TGT_WORDS = "le la chat chien assis sur un tapis rouge grand , . bonjour monde !".split()
TEST_SRC = ["the cat sat on a mat .", "a big red dog", "hello world !"]
TEST_TGT = ["le chat assis sur un tapis .", "un grand chien rouge", "bonjour monde !"]


def write_data(path, tokenizer="pretokenized", tgt_words=TGT_WORDS):
    path.mkdir(parents=True, exist_ok=True)
    src_vocab, tgt_vocab = Vocab(SRC_WORDS), Vocab(tgt_words)
    src_vocab.save(path / "vocab.src.txt")
    tgt_vocab.save(path / "vocab.tgt.txt")
    meta = {"format_version": 1, "source": "test", "src_lang": "en", "tgt_lang": "fr",
            "tokenizer": {"kind": tokenizer}, "src_vocab_size": len(src_vocab), "tgt_vocab_size": len(tgt_vocab),
            "splits": {"test": len(TEST_SRC)}, "config": {}}
    (path / "meta.json").write_text(json.dumps(meta))
    RaggedArray.from_sequences([src_vocab.encode(s.split()) for s in TEST_SRC]).save(path / "test.src")
    RaggedArray.from_sequences([tgt_vocab.encode(s.split()) for s in TEST_TGT]).save(path / "test.tgt")
    return src_vocab, tgt_vocab


def write_run(run_dir, data_dir, seed, attention="none", reverse=True):
    src_vocab = Vocab.load(data_dir / "vocab.src.txt")
    tgt_vocab = Vocab.load(data_dir / "vocab.tgt.txt")
    torch.manual_seed(seed)
    cfg = ModelConfig(len(src_vocab), len(tgt_vocab), 16, 16, 2, attention=attention, reverse_source=reverse,
                      init_range=0.4)
    model = Seq2Seq(cfg).eval()
    copy_data_files(data_dir, run_dir)
    save_checkpoint(run_dir / "checkpoints" / "best.pt", {"model_config": cfg.to_dict(), "model": model.state_dict()})
    write_run_info(run_dir, RunInfo(status=Status.DONE, data_dir=str(data_dir), model=cfg.to_dict()))
    return model


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode")
    data = root / "data"
    src_vocab, tgt_vocab = write_data(data)
    runs = [root / f"run{i}" for i in range(2)]
    models = [write_run(runs[0], data, 0, "luong"), write_run(runs[1], data, 1)]
    src_file = root / "test.src"
    src_file.write_text("\n".join(TEST_SRC + ["the zebra sat"]) + "\n")  # "zebra" is OOV -> UNK
    return dict(root=root, data=data, runs=runs, models=models, src=src_file, src_vocab=src_vocab,
                tgt_vocab=tgt_vocab, lines=TEST_SRC + ["the zebra sat"])


def ids(env, lines):
    return [env["src_vocab"].encode(line.split()) for line in lines]


def words(env, hyp):
    return " ".join(env["tgt_vocab"].decode(hyp.tokens))


def test_load_run_round_trip(env):
    loaded = load_run(env["runs"][0])
    direct = beam_search(env["models"][0], ids(env, env["lines"]), 3, nbest=3)
    again = beam_search(loaded.model, ids(env, env["lines"]), 3, nbest=3)
    assert [[(h.tokens, h.score) for h in s] for s in direct] == [[(h.tokens, h.score) for h in s] for s in again]


@pytest.mark.parametrize("beam", [1, 4])
def test_translate_file_matches_beam_search(env, beam, tmp_path):
    out = tmp_path / "out.txt"
    assert main(["translate", "--model", str(env["runs"][0]), "--beam", str(beam), "--input", str(env["src"]),
                 "--output", str(out), "--tokenized-output", "--set", "decode.device=cpu", "--quiet", "--set", "decode.batch_size=2"]) == 0
    expected = [words(env, h[0]) for h in beam_search(env["models"][0], ids(env, env["lines"]), beam)]
    assert out.read_text().splitlines() == expected
    assert ids(env, ["the zebra sat"])[0][1] == 1  # the OOV word really was UNK
    # One decode, both flavours: detokenized output plus a tokenized copy (pretokenized data: same text).
    assert main(["translate", "--model", str(env["runs"][0]), "--beam", str(beam), "--input", str(env["src"]),
                 "--output", str(tmp_path / "detok"), "--tokenized-copy", str(tmp_path / "tok"), "--set", "decode.device=cpu",
                 "--quiet"]) == 0
    assert (tmp_path / "tok").read_text().splitlines() == expected == (tmp_path / "detok").read_text().splitlines()


def test_translate_stdin_stdout_and_unk_kept(env, monkeypatch, capsys):
    # A model biased towards UNK: UNK must appear in the output as <unk>.
    model = copy.deepcopy(env["models"][1])
    with torch.no_grad():
        model.output.bias[1] += 5.0
    run = env["root"] / "run_unk"
    copy_data_files(env["data"], run)
    save_checkpoint(run / "checkpoints" / "last.pt", {"model_config": model.config.to_dict(), "model": model.state_dict()})
    write_run_info(run, RunInfo(status=Status.RUNNING))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello world !\n")))
    assert main(["translate", "--model", str(run), "--beam", "2", "--set", "decode.device=cpu", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "<unk>" in out[0].split()
    assert out[0] == words(env, beam_search(model, ids(env, ["hello world !"]), 2)[0][0])


def test_nbest_output_moses_format(env, tmp_path):
    out = tmp_path / "nbest.txt"
    assert main(["translate", "--model", str(env["runs"][1]), "--beam", "5", "--nbest", "3", "--input", str(env["src"]),
                 "--output", str(out), "--set", "decode.device=cpu", "--quiet"]) == 0
    expected = beam_search(env["models"][1], ids(env, env["lines"]), 5, nbest=3)
    lines = [line.split(" ||| ") for line in out.read_text().splitlines()]
    assert len(lines) == sum(len(s) for s in expected)
    k = 0
    for sent_id, hyps in enumerate(expected):
        for h in hyps:
            assert int(lines[k][0]) == sent_id
            assert lines[k][1] == words(env, h)
            assert float(lines[k][2]) == pytest.approx(h.score, abs=1e-5)
            k += 1


def test_ensemble_cli_matches_ensemble(env, tmp_path):
    out = tmp_path / "ens.txt"
    assert main(["translate", "--model", str(env["runs"][0]), "--model", str(env["runs"][1]), "--beam", "3",
                 "--input", str(env["src"]), "--output", str(out), "--tokenized-output", "--set", "decode.device=cpu", "--quiet"]) == 0
    expected = beam_search(Ensemble(env["models"]), ids(env, env["lines"]), 3)
    assert out.read_text().splitlines() == [words(env, h[0]) for h in expected]


def test_ensemble_vocabulary_mismatch(env, tmp_path, capsys):
    other_data = tmp_path / "other"
    write_data(other_data, tgt_words=list(reversed(TGT_WORDS)))
    write_run(tmp_path / "other_run", other_data, 2)
    code = main(["translate", "--model", str(env["runs"][1]), "--model", str(tmp_path / "other_run"), "--beam", "2",
                 "--input", str(env["src"]), "--output", str(tmp_path / "x"), "--set", "decode.device=cpu", "--quiet"])
    assert code == 2
    assert "tgt vocabulary differs" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_translate_errors(env, tmp_path, capsys):
    assert main(["translate", "--model", str(env["runs"][0]), "--input", str(tmp_path / "missing.txt"), "--quiet"]) == 2
    assert "missing.txt: input file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok line\nbad \xff byte\n")
    assert main(["translate", "--model", str(env["runs"][0]), "--input", str(bad), "--quiet"]) == 2
    assert "bad.txt, line 2: invalid UTF-8" in capsys.readouterr().err
    assert main(["translate", "--model", str(env["runs"][0]), "--beam", "2", "--nbest", "3", "--quiet"]) == 2
    assert capsys.readouterr().err == "error: --nbest must be between 1 and the beam size (2), got 3\n"
    for flags, message in ((["--beam", "0"], "--beam must be at least 1, got 0"),
                           (["--nbest", "-1"], "--nbest must be between 1 and the beam size (12), got -1"),
                           (["--min-len", "-1"], "--min-len must be >= 0, got -1")):
        assert main(["translate", "--model", str(env["runs"][0]), *flags, "--quiet"]) == 2
        assert capsys.readouterr().err == f"error: {message}\n"


# ----------------------------------------------------------------------------------- decode settings
def write_config(path, decode):
    """An experiment config as the workflow's step config: the decode: section and a section not read."""
    path.write_text(yaml.safe_dump({"experiment": "t", "model": {"hidden_size": 8}, "decode": decode}))
    return path


def test_translate_reads_the_decode_section_of_config(env, tmp_path):
    # max_len_a 0, max_len_b 1: at most one word per translation, as beam search with those limits gives
    config = write_config(tmp_path / "decode.yaml", {"device": "cpu", "max_len_a": 0, "max_len_b": 1})
    out = tmp_path / "out.txt"
    assert main(["translate", "--model", str(env["runs"][1]), "--config", str(config), "--beam", "3", "--input",
                 str(env["src"]), "--output", str(out), "--tokenized-output", "--quiet"]) == 0
    hyps = beam_search(env["models"][1], ids(env, env["lines"]), 3, max_len_a=0.0, max_len_b=1.0)
    assert out.read_text().splitlines() == [words(env, h[0]) for h in hyps]
    assert all(len(line.split()) <= 1 for line in out.read_text().splitlines())
    # --set overrides the file: back to the default limits
    again = tmp_path / "again.txt"
    assert main(["translate", "--model", str(env["runs"][1]), "--config", str(config), "--set", "decode.max_len_a=2",
                 "--set", "decode.max_len_b=10", "--beam", "3", "--input", str(env["src"]), "--output", str(again),
                 "--tokenized-output", "--quiet"]) == 0
    assert again.read_text().splitlines() == [words(env, h[0]) for h in
                                              beam_search(env["models"][1], ids(env, env["lines"]), 3)]


def test_decode_batch_size_does_not_change_translations(env, tmp_path):
    # batched equals one sentence at a time: the same hypotheses, scores up to float rounding (other batch shapes)
    outs = []
    for batch_size in (1, 100):
        config = write_config(tmp_path / f"b{batch_size}.yaml", {"device": "cpu", "batch_size": batch_size})
        out = tmp_path / f"nbest{batch_size}.txt"
        assert main(["translate", "--model", str(env["runs"][0]), "--model", str(env["runs"][1]), "--config",
                     str(config), "--beam", "4", "--nbest", "3", "--input", str(env["src"]), "--output", str(out),
                     "--quiet"]) == 0
        outs.append([line.split(" ||| ") for line in out.read_text().splitlines()])
    assert [entry[:2] for entry in outs[0]] == [entry[:2] for entry in outs[1]] and outs[0]
    assert [float(entry[2]) for entry in outs[0]] == pytest.approx([float(entry[2]) for entry in outs[1]], abs=1e-4)


@pytest.mark.parametrize("command", ["translate", "rescore", "encode", "perplexity"])
def test_decode_settings_errors_name_the_key_once(env, tmp_path, capsys, command):
    (tmp_path / "src").write_text("the cat\n")
    (tmp_path / "nbest").write_text("0 ||| le chat ||| -1.0\n")
    argv = {"translate": ["--input", str(tmp_path / "src")],
            "rescore": ["--src", str(tmp_path / "src"), "--nbest", str(tmp_path / "nbest"), "--output",
                        str(tmp_path / "o")],
            "encode": ["--input", str(tmp_path / "src"), "--output", str(tmp_path / "o.npy")],
            "perplexity": ["--data", str(env["data"])]}[command]
    base = [command, "--model", str(env["runs"][1]), *argv, *([] if command == "perplexity" else ["--quiet"])]
    assert main([*base, "--set", "decode.length_norm=-1"]) == 2
    assert capsys.readouterr().err == "error: decode.length_norm must be >= 0, got -1.0\n"
    assert main([*base, "--set", "decode.batch_size=0"]) == 2
    assert capsys.readouterr().err == "error: decode.batch_size must be positive, got 0\n"
    assert main([*base, "--set", "decode.device=tpu"]) == 2
    assert capsys.readouterr().err == "error: decode.device must be one of auto, cpu, cuda, got 'tpu'\n"
    assert main([*base, "--set", "decode.batch_sise=3"]) == 2
    assert "unknown key(s) batch_sise (did you mean 'batch_size'?)" in capsys.readouterr().err
    assert main([*base, "--set", "decode.beam=3"]) == 2
    assert "unknown key beam (did you mean the option --beam?" in capsys.readouterr().err
    assert main([*base, "--set", "train.lr=1"]) == 2
    assert "this command reads only the decode section(s)" in capsys.readouterr().err
    assert main([*base, "--config", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing.yaml'}: config file not found\n"
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.npy").exists()


def test_decode_device_errors_name_the_key(env, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["translate", "--model", str(env["runs"][0]), "--set", "decode.device=cuda", "--input",
                 str(env["src"]), "--quiet"]) == 2
    assert capsys.readouterr().err == ("error: decode.device is 'cuda' but no CUDA device is available "
                                       "(use 'auto' or 'cpu')\n")


def test_score_scores_translations_and_points_to_perplexity_for_a_model(env, capsys):
    assert main(["score", "--ref", str(env["src"])]) == 2
    assert "repro perplexity --model RUN_DIR --data DATA_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a run's perplexity is its own command
        main(["score", "--model", str(env["runs"][1]), "--data", str(env["data"])])


def test_moses_run_tokenizes_raw_text(tmp_path):
    data = tmp_path / "data"
    src_vocab, _ = write_data(data, tokenizer="moses")
    write_run(tmp_path / "run", data, 3)
    from repro.inference.translate import Translator

    t = Translator.from_runs(tmp_path / "run", device="cpu")
    assert t.source_ids(["hello world!"]) == [src_vocab.encode(["hello", "world", "!"])]
    assert t.source_ids(["hello world!"], tokenized=True) == [src_vocab.encode(["hello", "world!"])]
    best = t.target_tokens(beam_search(t.decoder, t.source_ids(["hello world!"]), 12)[0][0].tokens)
    assert t.translate(["hello world!"])[0] == t.tgt_tokenizer.detokenize(best)
    assert t.translate(["hello world!"], tokenized_output=True)[0] == " ".join(best)
    run = tmp_path / "run"
    (tmp_path / "in").write_text("hello world!\n")
    assert main(["translate", "--model", str(run), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"),
                 "--tokenized-copy", str(tmp_path / "o.tok"), "--set", "decode.device=cpu", "--quiet"]) == 0
    assert (tmp_path / "o").read_text() == t.tgt_tokenizer.detokenize(best) + "\n"
    assert (tmp_path / "o.tok").read_text() == " ".join(best) + "\n"


# ----------------------------------------------------------------------------------- score
def test_score_json(tmp_path, capsys):
    hyp, ref = tmp_path / "hyp", tmp_path / "ref"
    hyp.write_text("Le chat est assis sur le tapis.\nIl pleut beaucoup aujourd'hui.\n")
    ref.write_text("Le chat est assis sur le tapis rouge.\nIl pleut beaucoup aujourd'hui.\n")
    assert main(["score", "--hyp", str(hyp), "--ref", str(ref), "--tgt-lang", "fr", "--output", str(tmp_path / "s.json")]) == 0
    result = json.loads(capsys.readouterr().out)
    hyp_tok = ["Le chat est assis sur le tapis .", "Il pleut beaucoup aujourd' hui ."]
    ref_tok = ["Le chat est assis sur le tapis rouge .", "Il pleut beaucoup aujourd' hui ."]
    assert result["bleu_paper"] == pytest.approx(corpus_bleu_paper(hyp_tok, ref_tok))
    assert 0 < result["bleu_paper"] < 100
    assert result["sacrebleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert "chrf" in result and "chrf_signature" in result
    assert json.loads((tmp_path / "s.json").read_text()) == result
    # Pre-tokenized files give the same paper BLEU.
    th, tr = tmp_path / "th", tmp_path / "tr"
    th.write_text("\n".join(hyp_tok) + "\n")
    tr.write_text("\n".join(ref_tok) + "\n")
    assert main(["score", "--tokenized-hyp", str(th), "--tokenized-ref", str(tr)]) == 0
    assert json.loads(capsys.readouterr().out)["bleu_paper"] == pytest.approx(result["bleu_paper"])


def test_score_bootstrap(tmp_path, capsys):
    import random

    rng = random.Random(0)
    vocab = "le la un une chat chien est sur tapis rouge grand petit".split()
    refs = [" ".join(rng.choice(vocab) for _ in range(8)) for _ in range(40)]
    good = [" ".join(w if rng.random() > 0.1 else "x" for w in r.split()) for r in refs]
    bad = [" ".join(w if rng.random() > 0.5 else "x" for w in r.split()) for r in refs]
    for name, lines in (("ref", refs), ("a", bad), ("b", good)):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    args = ["score", "--hyp", str(tmp_path / "a"), "--hyp2", str(tmp_path / "b"), "--ref", str(tmp_path / "ref"),
            "--bootstrap", "200", "--seed", "3"]
    assert main(args) == 0
    boot = json.loads(capsys.readouterr().out)["bootstrap"]
    assert boot["paper_bleu"]["difference"] > 0 and boot["paper_bleu"]["p_value"] < 0.05
    assert boot["paper_bleu"]["difference_ci"][0] > 0
    assert boot["sacrebleu"]["p_value"] < 0.05 and "bs:200" in boot["sacrebleu"]["signature"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["bootstrap"] == boot  # seeded


def test_perplexity_is_the_mean_nll_per_target_token_eos_included(env, tmp_path, capsys):
    assert main(["perplexity", "--model", str(env["runs"][1]), "--data", str(env["data"]), "--split", "test",
                 "--set", "decode.device=cpu"]) == 0
    ppl = json.loads(capsys.readouterr().out)
    model = env["models"][1]
    nll, tokens = 0.0, 0
    with torch.no_grad():
        for s, t in zip(TEST_SRC, TEST_TGT):
            src = torch.tensor([env["src_vocab"].encode(s.split())])
            tgt = env["tgt_vocab"].encode(t.split())
            lp = torch.log_softmax(model(src, torch.tensor([src.size(1)]), torch.tensor([[2] + tgt])), -1)[0]
            nll -= sum(float(lp[i, y]) for i, y in enumerate(tgt + [3]))
            tokens += len(tgt) + 1
    assert ppl["tokens"] == tokens and ppl["sentences"] == len(TEST_SRC) and ppl["split"] == "test"
    assert ppl["ppl"] == pytest.approx(math.exp(nll / tokens), rel=1e-5)
    # as the workflow makes it a record: the same JSON, written whole, stamped with the settings' digest
    assert main(["perplexity", "--model", str(env["runs"][1]), "--data", str(env["data"]), "--set",
                 "decode.device=cpu", "--output", str(tmp_path / "p.json"), "--fingerprint", "0123abcd"]) == 0
    assert json.loads((tmp_path / "p.json").read_text()) == {**ppl, "fingerprint": "0123abcd"}


def test_score_errors(tmp_path, capsys):
    (tmp_path / "h").write_text("a\nb\n")
    (tmp_path / "r").write_text("a\n")
    assert main(["score", "--hyp", str(tmp_path / "h"), "--ref", str(tmp_path / "r")]) == 2
    assert "2 lines" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- rescore
def teacher_forced(model, src_ids, tgt_ids):
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([src_ids]), torch.tensor([len(src_ids)]),
                                     torch.tensor([[2] + tgt_ids])), -1)[0]
    return sum(float(lp[i, y]) for i, y in enumerate(tgt_ids + [3]))


def test_rescore_nbest(env, tmp_path):
    model, tgt_vocab = env["models"][1], env["tgt_vocab"]
    candidates = ["le chat assis", "un tapis rouge", "bonjour monde", "le le le le"]
    src_lines = TEST_SRC[:2]
    nbest_lines, list_scores, lstm = [], {}, {}
    for sid, src in enumerate(src_lines):
        src_ids = env["src_vocab"].encode(src.split())
        scores = {c: teacher_forced(model, src_ids, tgt_vocab.encode(c.split())) for c in candidates}
        by_model = sorted(candidates, key=lambda c: -scores[c])
        # The list ranks the model's favourite second and the model's least favourite first.
        ranked = [by_model[-1], by_model[0]] + by_model[1:-1]
        for rank, c in enumerate(ranked):
            nbest_lines.append(f"{sid} ||| {c} ||| {-float(rank):.1f}")
            list_scores[(sid, c)] = -float(rank)
        lstm[sid] = scores
    nb = tmp_path / "smt.nbest"
    nb.write_text("\n".join(nbest_lines) + "\n")
    src_file = tmp_path / "src"
    src_file.write_text("\n".join(src_lines) + "\n")

    def run(weight):
        out = tmp_path / f"out{weight}"
        assert main(["rescore", "--model", str(env["runs"][1]), "--nbest", str(nb), "--src", str(src_file),
                     "--weight", str(weight), "--output", str(out), "--set", "decode.device=cpu", "--quiet",
                     "--scores", str(tmp_path / "scores.jsonl")]) == 0
        return out.read_text().splitlines()

    for weight in (0.0, 0.5, 1.0):
        expected = [max(candidates, key=lambda c: (weight * lstm[s][c] + (1 - weight) * list_scores[(s, c)]))
                    for s in range(2)]
        assert run(weight) == expected
    assert run(1.0) == [max(candidates, key=lambda c: lstm[s][c]) for s in range(2)]
    assert run(0.0) != run(1.0)
    rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert rows[0]["model_score"] == pytest.approx(lstm[0][rows[0]["hypothesis"]], abs=1e-4)


def test_rescore_bad_nbest(env, tmp_path, capsys):
    nb = tmp_path / "bad.nbest"
    nb.write_text("0 ||| le chat ||| -1.0\n0 ||| le chat\n")
    (tmp_path / "src").write_text("the cat\n")
    assert main(["rescore", "--model", str(env["runs"][1]), "--nbest", str(nb), "--src", str(tmp_path / "src"),
                 "--output", str(tmp_path / "o"), "--quiet"]) == 2
    assert "bad.nbest, line 2: expected 'id ||| hypothesis ||| score'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_ensemble_rescore_scores_match_beam_search(env):
    from repro.inference.rescore import sequence_log_probs

    ens = Ensemble(env["models"])
    sources = ids(env, env["lines"])
    hyps = beam_search(ens, sources, 4, nbest=2)
    flat = [(s, h) for s, sent in zip(sources, hyps) for h in sent]
    scores = sequence_log_probs(ens, [s for s, _ in flat], [h.tokens for _, h in flat], batch_size=3)
    assert scores == pytest.approx([h.score for _, h in flat], abs=1e-4)


# ----------------------------------------------------------------------------------- encode
@pytest.mark.parametrize("suffix", [".npy", ".tsv"])
def test_encode(env, tmp_path, suffix):
    out = tmp_path / f"vec{suffix}"
    assert main(["encode", "--model", str(env["runs"][1]), "--input", str(env["src"]), "--output", str(out),
                 "--set", "decode.device=cpu", "--quiet", "--set", "decode.batch_size=3"]) == 0
    vectors = np.load(out) if suffix == ".npy" else np.loadtxt(out, delimiter="\t", dtype=np.float32)
    model = env["models"][1]
    sources = ids(env, env["lines"])
    assert vectors.shape == (len(sources), 2 * 2 * 16)  # (h, c) x layers x hidden
    forward = copy.deepcopy(model)
    forward.config.reverse_source = False
    with torch.no_grad():
        for row, s in zip(vectors, sources):
            direct = model.context_vector(model.encode(torch.tensor([s]), torch.tensor([len(s)])))[0].numpy()
            np.testing.assert_allclose(row, direct, atol=1e-6)
            # Reversal is applied: the same weights reading the reversed sentence forwards agree...
            rev = forward.context_vector(forward.encode(torch.tensor([s[::-1]]), torch.tensor([len(s)])))[0].numpy()
            np.testing.assert_allclose(row, rev, atol=1e-6)
            # ...and reading it in natural order does not.
            nat = forward.context_vector(forward.encode(torch.tensor([s]), torch.tensor([len(s)])))[0].numpy()
            assert not np.allclose(row, nat, atol=1e-4)


def test_score_misaligned_files_names_both_files_and_counts(tmp_path, capsys):
    from repro.cli import main

    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("a b\n")
    ref.write_text("a b\nc d\n")
    assert main(["score", "--hyp", str(hyp), "--ref", str(ref)]) == 2
    err = capsys.readouterr().err
    assert str(hyp) in err and str(ref) in err and "1 lines" in err and "has 2" in err


# ----------------------------------------------------------------------------------- bf16
def bf16_here() -> bool:
    from repro.device import check_bf16

    return check_bf16(torch.device("cpu"))


@pytest.mark.native_bf16  # the fallback: test_bf16_unsupported_falls_back_to_fp32, and tests/test_device.py
def test_translate_bf16_changes_only_precision(env, tmp_path):
    # decode.bf16: the same hypotheses up to bf16 rounding; each n-best score is the fp32 log-probability of
    # its words within a bounded error per token.
    outs = {}
    for flag in ([], ["--set", "decode.bf16=true"]):
        out = tmp_path / f"nbest{len(flag)}.txt"
        assert main(["translate", "--model", str(env["runs"][0]), "--beam", "4", "--nbest", "2", "--input",
                     str(env["src"]), "--output", str(out), "--set", "decode.device=cpu", "--quiet", *flag]) == 0
        outs[bool(flag)] = [line.split(" ||| ") for line in out.read_text().splitlines()]
    sources = ids(env, env["lines"])
    assert {int(e[0]) for e in outs[True]} == set(range(len(sources)))
    for sent_id, hyp, score in outs[True]:
        tgt = env["tgt_vocab"].encode(hyp.split())
        assert 1 not in tgt or "<unk>" in hyp.split()  # every word is a vocabulary word
        exact = teacher_forced(env["models"][0], sources[int(sent_id)], tgt)
        assert float(score) == pytest.approx(exact, abs=0.02 * (len(tgt) + 1))
    best = {int(e[0]): float(e[2]) for e in reversed(outs[False])}
    best_bf16 = {int(e[0]): float(e[2]) for e in reversed(outs[True])}
    for sent_id, score in best.items():
        assert best_bf16[sent_id] == pytest.approx(score, abs=0.02 * 30)


def test_bf16_unsupported_falls_back_to_fp32(env, tmp_path, monkeypatch, caplog):
    import repro.device

    monkeypatch.setattr(repro.device, "bf16_unsupported_reason", lambda device: "no bf16 on this test CPU")
    out = {}
    for flag in ([], ["--set", "decode.bf16=true"]):
        path = tmp_path / f"out{len(flag)}.txt"
        assert main(["translate", "--model", str(env["runs"][0]), "--beam", "3", "--nbest", "3", "--input",
                     str(env["src"]), "--output", str(path), "--set", "decode.device=cpu", "--quiet", *flag]) == 0
        out[bool(flag)] = path.read_text()
    assert "notice: decode.bf16 is set but no bf16 on this test CPU; running in fp32" in caplog.text
    assert out[True] == out[False]  # bit-identical: fp32 scores included


def test_perplexity_bf16(env, capsys):
    results = {}
    for flag in ([], ["--set", "decode.bf16=true"]):
        assert main(["perplexity", "--model", str(env["runs"][1]), "--data", str(env["data"]), "--split", "test",
                     "--set", "decode.device=cpu", *flag]) == 0
        results[bool(flag)] = json.loads(capsys.readouterr().out)
    fp32, bf16 = results[False], results[True]
    assert fp32["bf16"] is False and bf16["bf16"] is bf16_here()
    assert bf16["tokens"] == fp32["tokens"] and bf16["sentences"] == fp32["sentences"]
    assert bf16["nll"] == pytest.approx(fp32["nll"], abs=0.02)
    assert bf16["ppl"] == pytest.approx(fp32["ppl"], rel=0.02)


def test_rescore_and_encode_bf16(env, tmp_path):
    nb = tmp_path / "list.nbest"
    nb.write_text("0 ||| le chat assis ||| -1.0\n0 ||| un tapis ||| -2.0\n1 ||| bonjour monde ||| -0.5\n")
    (tmp_path / "src").write_text("\n".join(TEST_SRC[:2]) + "\n")
    scores = {}
    for flag in ([], ["--set", "decode.bf16=true"]):
        assert main(["rescore", "--model", str(env["runs"][1]), "--nbest", str(nb), "--src", str(tmp_path / "src"),
                     "--weight", "1.0", "--output", str(tmp_path / "o"), "--set", "decode.device=cpu", "--quiet",
                     "--scores", str(tmp_path / f"s{len(flag)}"), *flag]) == 0
        scores[bool(flag)] = [json.loads(line)["model_score"] for line in (tmp_path / f"s{len(flag)}").read_text().splitlines()]
    assert scores[True] == pytest.approx(scores[False], abs=0.05)
    vectors = {}
    for flag in ([], ["--set", "decode.bf16=true"]):
        out = tmp_path / f"vec{len(flag)}.npy"
        assert main(["encode", "--model", str(env["runs"][1]), "--input", str(env["src"]), "--output", str(out),
                     "--set", "decode.device=cpu", "--quiet", *flag]) == 0
        vectors[bool(flag)] = np.load(out)
    assert vectors[True].dtype == np.float32 and vectors[True].shape == vectors[False].shape
    np.testing.assert_allclose(vectors[True], vectors[False], atol=0.05)


# ----------------------------------------------------------------------------------- bad inputs
BOM = "\ufeff"


def test_decode_inputs_ignore_a_byte_order_mark(env, tmp_path, monkeypatch, capsys):
    # n-best scores and context vectors change with any change of the source ids, unlike a 1-best string
    plain, marked = tmp_path / "plain.en", tmp_path / "marked.en"
    plain.write_text("\n".join(TEST_SRC) + "\n", encoding="utf-8")
    marked.write_text(BOM + "\n".join(TEST_SRC) + "\n", encoding="utf-8")
    run = ["translate", "--model", str(env["runs"][0]), "--beam", "3", "--nbest", "2", "--set", "decode.device=cpu", "--quiet"]
    assert main([*run, "--input", str(plain), "--output", str(tmp_path / "a")]) == 0
    expected = (tmp_path / "a").read_text()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(marked.read_bytes())))
    assert main(run) == 0
    assert capsys.readouterr().out == expected
    encode = ["encode", "--model", str(env["runs"][0]), "--set", "decode.device=cpu", "--quiet"]
    assert main([*encode, "--input", str(plain), "--output", str(tmp_path / "a.npy")]) == 0
    assert main([*encode, "--input", str(marked), "--output", str(tmp_path / "b.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_score_ignores_a_byte_order_mark(tmp_path, capsys):
    ref, hyp = tmp_path / "ref.fr", tmp_path / "hyp.fr"
    text = "Le chat est assis sur le tapis rouge.\nIl pleut beaucoup aujourd'hui.\n"
    ref.write_text(text, encoding="utf-8")
    hyp.write_text(BOM + text, encoding="utf-8")  # Windows Notepad's UTF-8
    assert main(["score", "--hyp", str(hyp), "--ref", str(ref)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bleu_paper"] == 100.0 and result["chrf"] == 100.0
    assert result["sacrebleu"] == pytest.approx(100.0, abs=1e-9)


def test_rescore_reads_the_nbest_list_with_the_shared_reader(env, tmp_path, capsys):
    nb, src = tmp_path / "smt.nbest", tmp_path / "src"
    nb.write_text(BOM + "0 ||| le chat ||| -1.0\n0 ||| un tapis ||| -2.0\n", encoding="utf-8")
    src.write_text(BOM + "the cat\n", encoding="utf-8")
    args = ["rescore", "--model", str(env["runs"][1]), "--src", str(src), "--weight", "0", "--set", "decode.device=cpu",
            "--quiet"]
    assert main([*args, "--nbest", str(nb), "--output", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o").read_text() == "le chat\n"
    bad = tmp_path / "bad.nbest"
    bad.write_bytes(b"0 ||| le chat ||| -1.0\n0 ||| \xff ||| -2.0\n")
    assert main([*args, "--nbest", str(bad), "--output", str(tmp_path / "o2")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {bad}, line 2: invalid UTF-8")
    assert main([*args, "--nbest", str(tmp_path), "--output", str(tmp_path / "o2")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: is a directory, expected a text file (--nbest file)\n"
    assert not (tmp_path / "o2").exists()


def test_score_both_files_empty(tmp_path, capsys):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("")
    ref.write_text("")
    for flags in (["--hyp", str(hyp), "--ref", str(ref)], ["--tokenized-hyp", str(hyp), "--tokenized-ref", str(ref)]):
        assert main(["score", *flags, "--output", str(tmp_path / "s.json")]) == 2
        assert capsys.readouterr().err == f"error: no sentences to score in {hyp} and {ref} (both files are empty)\n"
    assert not (tmp_path / "s.json").exists()


def test_score_empty_hypotheses_are_misaligned(tmp_path, capsys):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("")
    ref.write_text("Le chat.\nIl pleut.\n")
    assert main(["score", "--hyp", str(hyp), "--ref", str(ref)]) == 2
    assert capsys.readouterr().err == f"error: hypotheses ({hyp}) has 0 lines but references ({ref}) has 2\n"


def test_score_data_must_be_a_prepared_directory(tmp_path, capsys):
    (tmp_path / "h").write_text("Le chat.\n")
    assert main(["score", "--hyp", str(tmp_path / "h"), "--ref", str(tmp_path / "h"), "--data",
                 str(tmp_path / "typo")]) == 2  # not silently scored with default tokenizer settings
    assert capsys.readouterr().err == (f"error: {tmp_path / 'typo'}: not a prepared data directory (no meta.json); "
                                       "run `repro prepare` first\n")


def test_decode_commands_bad_paths_are_errors_not_tracebacks(env, tmp_path, capsys):
    text = tmp_path / "in.txt"
    text.write_text("the cat\n")
    out_dir = tmp_path / "outdir"
    out_dir.mkdir()
    (out_dir / "keep").write_text("mine")
    model = ["--model", str(env["runs"][0]), "--set", "decode.device=cpu", "--quiet"]
    cases = [
        (["translate", *model, "--input", str(text), "--output", str(out_dir)],
         f"{out_dir}: is a directory; give the path of a file to write"),
        (["translate", *model, "--input", str(text), "--output", str(text / "x")],
         f"{text / 'x'}: cannot write here: {text} is a file, not a directory"),
        (["translate", *model, "--input", str(out_dir)],
         f"{out_dir}: is a directory, expected a text file (input file)"),
        (["translate", "--model", str(tmp_path / "nope"), "--input", str(text)],
         f"{tmp_path / 'nope'}: run directory not found (--model)"),
        (["translate", "--model", str(text), "--input", str(text)],
         f"{text}: is a file, expected a run directory written by `repro train` (--model)"),
        (["encode", "--model", str(text), "--input", str(text), "--output", str(tmp_path / "e.npy")],
         f"{text}: is a file, expected a run directory written by `repro train` (--model)"),
        (["score", "--hyp", str(text), "--ref", str(text), "--output", str(out_dir)],
         f"{out_dir}: is a directory; give the path of a file to write"),
        (["perplexity", "--model", str(tmp_path / "nope"), "--data", str(env["data"])],
         f"{tmp_path / 'nope'}: run directory not found (--model)"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"error: {message}\n"), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "outdir"]
    assert [p.name for p in out_dir.iterdir()] == ["keep"] and (out_dir / "keep").read_text() == "mine"


def test_translate_empty_input_gives_empty_output(env, tmp_path):
    (tmp_path / "empty").write_text("")
    assert main(["translate", "--model", str(env["runs"][0]), "--input", str(tmp_path / "empty"), "--output",
                 str(tmp_path / "out"), "--set", "decode.device=cpu", "--quiet"]) == 0
    assert (tmp_path / "out").read_text() == ""


# ----------------------------------------------------------------------------------- no output destroys an input
def _translate(env, *args: str) -> int:
    return main(["translate", "--model", str(env["runs"][0]), "--tokenized-input", "--quiet", *args])


def test_an_output_that_is_an_input_is_refused_before_anything_is_written(env, tmp_path, capsys):
    text = "the cat sat\n"
    source = tmp_path / "f.txt"
    source.write_text(text)
    (tmp_path / "link.txt").symlink_to(source)
    os.link(source, tmp_path / "hard.txt")
    for output in (str(source), str(tmp_path / "." / "f.txt"), str(tmp_path / "link.txt"), str(tmp_path / "hard.txt")):
        assert _translate(env, "--input", str(source), "--output", output) == 2
        assert "--output is the input file given as --input; refusing to overwrite an input" in capsys.readouterr().err
    assert _translate(env, "--input", str(source), "--output", str(tmp_path / "o"), "--tokenized-copy",
                      str(tmp_path / "o")) == 2
    assert "given both as --output and as --tokenized-copy" in capsys.readouterr().err
    assert _translate(env, "--input", str(source), "--output", str(env["runs"][0] / "run.json")) == 2
    assert "lies inside the run directory" in capsys.readouterr().err
    nbest = tmp_path / "n.nbest"
    nbest.write_text("0 ||| le chat ||| -1.0\n")
    assert main(["rescore", "--model", str(env["runs"][1]), "--nbest", str(nbest), "--src", str(source),
                 "--output", str(nbest), "--quiet"]) == 2
    assert "--output is the input file given as --nbest" in capsys.readouterr().err
    assert main(["score", "--hyp", str(source), "--ref", str(source), "--output", str(source)]) == 2
    assert "--output is the input file given as --hyp" in capsys.readouterr().err
    assert source.read_text() == text and nbest.read_text() == "0 ||| le chat ||| -1.0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt", "hard.txt", "link.txt", "n.nbest"]


def test_rescore_an_empty_nbest_list_is_an_error(env, tmp_path, capsys):
    (tmp_path / "empty.nbest").write_text("")
    (tmp_path / "src").write_text("the cat\n")
    assert main(["rescore", "--model", str(env["runs"][1]), "--nbest", str(tmp_path / "empty.nbest"),
                 "--src", str(tmp_path / "src"), "--output", str(tmp_path / "o"), "--quiet"]) == 2
    assert "empty.nbest: the n-best list is empty" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_full_disk_while_writing_translations_is_one_error_line(env, tmp_path, capsys, full_disk):
    import repro.io

    full_disk(repro.io, ".tmp")  # the temporary output file of the atomic write
    source = tmp_path / "in.txt"
    source.write_text("the cat sat\n" * 200)
    assert _translate(env, "--input", str(source), "--output", str(tmp_path / "out.txt")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "out.txt: could not be written (No space left on device;" in err and "MB free" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
