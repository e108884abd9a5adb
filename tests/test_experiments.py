"""The experiment matrix: the paper's runs and systems, ablation variants, equal-parameter sizes."""

from __future__ import annotations

import pytest
import torch

from repro.errors import ReproError
from repro.experiments import equal_parameter_hidden_size, plan, recurrent_parameter_count
from repro.models.forms import CELLS
from repro.models.seq2seq import ModelConfig, Seq2Seq


def test_paper_matrix_has_table1_systems():
    p = plan({"model": {"num_layers": 4}})
    assert sorted(p.runs) == ["forward-s1", "reversed-s1", "reversed-s2", "reversed-s3", "reversed-s4",
                              "reversed-s5"]
    assert dict(p.runs["forward-s1"].overrides) == {"model.reverse_source": False, "train.seed": 1}
    # every row of Table 1 the suite can produce is a registered system
    assert p.system(p.single("forward"), 12).name == "forward-s1/beam12"
    assert p.system(p.single("reversed"), 12).name == "reversed-s1/beam12"
    ens5 = p.ensemble(5)
    assert [run.name for run in ens5.runs] == [f"reversed-s{i}" for i in range(1, 6)]
    for beam in (1, 2, 12):
        assert p.system(ens5, beam).runs == ens5.runs
    assert p.system(p.ensemble(2), 12).name == "ensemble-reversed-s1+2/beam12"
    # the beam table: single and ensemble at 1, 2, 4, 8, 12
    for beam in (1, 2, 4, 8, 12):
        p.system(p.single("reversed"), beam)
        p.system(ens5, beam)
    with pytest.raises(KeyError):
        p.system(p.single("forward"), 4)  # the forward model is decoded only at Table 1's beams
    assert not p.variants.keys() - {"reversed", "forward"}


def test_ablations_add_variants_with_seeds_and_skip_the_base_value():
    config = {"model": {"cell": "lstm", "num_layers": 4, "hidden_size": 64, "embedding_size": 32},
              "paper": {"reversed_seeds": [1, 2], "ensembles": [2]},
              "ablations": {"enabled": True, "seeds": [1, 2, 3], "cell": ["lstm", "gru"], "num_layers": [1, 4],
                            "teacher_forcing_ratio": [1.0, 0.0], "max_train_len": [10], "attention": True,
                            "cell_equal_parameters": True, "beam": 2}}
    p = plan(config)
    assert set(p.variants) == {"reversed", "forward", "cell-gru", "cell-gru-eqparams", "layers1", "tf0",
                               "maxlen10", "attention", "attention-forward"}
    assert [r.seed for r in p.runs_of("reversed")] == [1, 2, 3]  # ablation seeds extend the paper's
    assert [r.seed for r in p.runs_of("forward")] == [1, 2, 3]
    assert dict(p.runs["tf0-s2"].overrides) == {"train.teacher_forcing_ratio": 0.0, "train.seed": 2}
    assert p.runs["maxlen10-s1"].override_args() == ["train.max_len=10", "train.seed=1"]
    assert "attention-forward-s3/beam2" in p.systems
    assert p.system(p.ensemble(2), 12).name == "ensemble-reversed-s1+2/beam12"  # ensembles use paper seeds
    # what a variant changes is data, not a name to parse
    assert p.variants["tf0"].override("train.teacher_forcing_ratio") == 0.0
    assert p.setting("layers1", "model.num_layers") == 1 and p.setting("reversed", "model.num_layers") == 4
    assert p.setting("cell-gru", "model.hidden_size") == 64
    assert p.setting("cell-gru-eqparams", "model.hidden_size") > 64
    assert p.setting("reversed", "train.clip_norm") == 5.0  # TrainConfig's default
    assert [v.name for v in p.variants_on("attention")] == ["attention", "attention-forward"]


def test_bad_sections_are_rejected():
    with pytest.raises(ReproError, match="unknown key"):
        plan({"paper": {"reversed_seed": [1]}})
    with pytest.raises(ReproError, match="ensemble of 5"):
        plan({"paper": {"reversed_seeds": [1, 2]}})


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_equal_parameter_hidden_size_matches_lstm_recurrent_count(cell):
    hidden, emb, layers = 100, 100, 2
    size = equal_parameter_hidden_size(cell, hidden, emb, layers)
    lstm = Seq2Seq(ModelConfig(50, 50, emb, hidden, layers, cell="lstm")).recurrent_parameters()
    other = Seq2Seq(ModelConfig(50, 50, emb, size, layers, cell=cell)).recurrent_parameters()
    assert abs(other - lstm) / lstm < 0.02
    assert size > hidden


def test_every_system_decodes_a_registered_decoder_of_planned_runs():
    p = plan({"paper": {"reversed_seeds": [1, 2, 5], "ensembles": [3]},
              "ablations": {"enabled": True, "seeds": [3], "cell": ["gru"], "cell_equal_parameters": True}})
    for system in p.systems.values():
        assert p.decoders[system.decoder.name] is system.decoder or p.decoders[system.decoder.name] == system.decoder
        assert all(p.runs[run.name] == run for run in system.runs)
    assert [run.seed for run in p.decoders["ensemble-reversed-s1+2+5"].runs] == [1, 2, 5]
    assert p.decoders["cell-gru-eqparams-s3"].runs[0].variant.axis == "cell"


def test_model_sizes_given_as_strings_plan_the_same():
    # `snakemake --config model={hidden_size: 8}` hands the workflow YAML scalars as strings.
    ablations = {"enabled": True, "seeds": [1], "cell": ["gru"], "cell_equal_parameters": True}
    as_ints = plan({"model": {"num_layers": 2, "hidden_size": 8, "embedding_size": 4}, "ablations": ablations})
    as_strings = plan({"model": {"num_layers": "2", "hidden_size": "8", "embedding_size": "4"},
                       "ablations": ablations})
    assert as_strings.runs == as_ints.runs
    assert dict(as_ints.runs["cell-gru-eqparams-s1"].overrides)["model.hidden_size"] > 8


def test_attention_ablation_trains_the_configured_form_default_luong_with_input_feeding():
    base = {"ablations": {"enabled": True, "seeds": [1], "attention": True}}
    p = plan(base)
    assert p.setting("attention", "model.attention") == "luong" and p.setting("attention", "model.input_feeding")
    assert not p.setting("attention-forward", "model.reverse_source") and "input feeding" in p.variants["attention"].label
    bahdanau = plan({"ablations": {**base["ablations"], "attention_form": "bahdanau"}})
    assert bahdanau.setting("attention-forward", "model.attention") == "bahdanau"
    assert not bahdanau.setting("attention", "model.input_feeding")
    with pytest.raises(ReproError, match="attention_form"):
        plan({"ablations": {**base["ablations"], "attention_form": "dot"}})
    reversed_only = plan({"ablations": {**base["ablations"], "attention_forward": False}})
    assert [v.name for v in reversed_only.variants_on("attention")] == ["attention"]


def test_beam_table_adds_the_fairseq_convention_at_the_widest_beam():
    p = plan({"paper": {"reversed_seeds": [1, 2], "ensembles": [2], "beam_table_beams": [1, 4]}})
    single, ensemble = p.system(p.single("reversed"), 4, 1), p.system(p.ensemble(2), 4, 1)
    assert single.name == "reversed-s1/beam4-minlen1" and single.search == "beam4-minlen1"
    assert ensemble.min_len == 1 and p.system(p.single("reversed"), 4).search == "beam4"
    assert [s for s in p.systems.values() if s.min_len] == [single, ensemble]
    off = plan({"paper": {"reversed_seeds": [1, 2], "ensembles": [2], "beam_table_fairseq_row": False}})
    assert not any(s.min_len for s in off.systems.values())


def test_every_paper_run_is_decoded_at_the_ablation_beam_for_the_seed_spread():
    p = plan({"model": {"num_layers": 2}, "paper": {"reversed_seeds": [1, 2, 3, 4, 5], "forward_seeds": [1, 2, 3]},
              "ablations": {"enabled": True, "seeds": [1], "beam": 2, "num_layers": [1, 3, 4]}})
    at_beam = {s.name for s in p.ablation_systems()}
    assert {f"reversed-s{i}/beam2" for i in range(1, 6)} | {f"forward-s{i}/beam2" for i in (1, 2, 3)} <= at_beam
    assert {"layers1-s1/beam2", "layers3-s1/beam2", "layers4-s1/beam2"} <= at_beam
    assert not any(name.startswith("layers") and "-s1/" not in name for name in at_beam)  # one ablation seed


def test_axis_seeds_give_one_axis_its_own_seeds_and_the_main_model_all_of_them():
    config = {"model": {"num_layers": 2},
              "paper": {"reversed_seeds": [1, 2], "forward_seeds": [1], "ensembles": [2]},
              "ablations": {"enabled": True, "seeds": [1], "axis_seeds": {"cell": [1, 2, 3]}, "cell": ["gru"],
                            "num_layers": [1], "beam": 2}}
    p = plan(config)
    assert [run.seed for run in p.runs_of("cell-gru")] == [1, 2, 3]
    assert [run.seed for run in p.runs_of("layers1")] == [1]
    # the main and forward models train every seed any axis compares them on
    assert [run.seed for run in p.runs_of("reversed")] == [1, 2, 3]
    assert [run.seed for run in p.runs_of("forward")] == [1, 2, 3]
    assert p.ablations.seeds_of("cell") == [1, 2, 3] and p.ablations.seeds_of("num_layers") == [1]
    decoded = {s.runs[0].name for s in p.ablation_systems()}
    assert {"cell-gru-s2", "cell-gru-s3", "reversed-s3", "forward-s2"} <= decoded


@pytest.mark.parametrize("axis_seeds, problem", [({"cells": [1]}, "unknown axis 'cells'"),
                                                 ({"cell": []}, "axis_seeds.cell must not be empty"),
                                                 ({"cell": ["x"]}, "axis_seeds.cell[0]")])
def test_bad_axis_seeds_are_rejected_with_the_key(axis_seeds, problem):
    with pytest.raises(ReproError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        plan({"ablations": {"enabled": True, "axis_seeds": axis_seeds}})


@pytest.mark.parametrize("cell", list(CELLS))
def test_recurrent_parameter_count_is_the_torch_layer_s(cell):
    layer = getattr(torch.nn, CELLS[cell].class_name)(7, 5, num_layers=3)  # input 7, hidden 5
    assert sum(p.numel() for p in layer.parameters()) == recurrent_parameter_count(cell, 5, 7, 3)
