"""Experiment configs: YAML + dotted overrides, unknown keys rejected with the section named."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from repro.config import apply_override, dataclass_from_dict, load_config
from repro.errors import ConfigError, ReproError


def test_overrides_parse_yaml_scalars_and_create_sections(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.7\nmodel:\n  cell: lstm\n")
    config = load_config(path, ["train.lr=0.5", "model.reverse_source=false", "decode.beams=[1, 2, 12]"])
    assert config["train"]["lr"] == 0.5
    assert config["model"] == {"cell": "lstm", "reverse_source": False}
    assert config["decode"]["beams"] == [1, 2, 12]


@pytest.mark.parametrize("item", ["train.lr", "=3"])
def test_malformed_override_is_an_error(item):
    with pytest.raises(ReproError):
        apply_override({}, item)


def test_override_through_a_scalar_is_an_error():
    with pytest.raises(ReproError, match="not a section"):
        apply_override({"train": 3}, "train.lr=1")


def test_missing_and_invalid_files_name_the_file(tmp_path):
    with pytest.raises(ReproError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ReproError, match="bad.yaml"):
        load_config(bad)


@dataclass
class Small:
    a: int = 1
    b: str = "x"


def test_dataclass_from_dict_rejects_unknown_keys():
    assert dataclass_from_dict(Small, {"a": 3}, "train") == Small(3, "x")
    with pytest.raises(ReproError, match="section 'train'.*'?c'?"):
        dataclass_from_dict(Small, {"c": 1}, "train")


@dataclass
class Typed:
    steps: int | None = None
    lr: float = 0.7
    flag: bool = False
    name: str = "x"
    betas: list[float] | None = None


@pytest.mark.parametrize(("values", "message"), [
    ({"steps": 2.5}, "typed.steps: expected an integer or null, got 2.5"),
    ({"steps": "abc"}, "typed.steps: expected an integer or null, got 'abc'"),
    ({"steps": True}, "typed.steps: expected an integer or null, got True"),
    ({"lr": "abc"}, "typed.lr: expected a number, got 'abc'"),
    ({"flag": "yes please"}, "typed.flag: expected true or false"),
    ({"name": 3}, "typed.name: expected a string, got 3"),
    ({"betas": [0.9, "b"]}, "typed.betas[1]: expected a number, got 'b'"),
])
def test_values_of_the_wrong_type_are_errors_naming_the_key(values, message):
    with pytest.raises(ConfigError) as info:
        dataclass_from_dict(Typed, values, "typed")
    assert message in str(info.value)


def test_values_are_converted_only_where_nothing_is_lost():
    typed = dataclass_from_dict(Typed, {"steps": 3.0, "lr": "1e-3", "flag": "true", "betas": [1, 0.5]}, "typed")
    assert typed == Typed(steps=3, lr=0.001, flag=True, betas=[1.0, 0.5])
    assert isinstance(typed.steps, int) and isinstance(typed.betas[0], float)


def test_unknown_key_suggests_the_closest_known_one():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) lrr \(did you mean 'lr'\?\)"):
        dataclass_from_dict(Typed, {"lrr": 1}, "typed")


def test_override_of_an_unknown_section_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match=r"unknown section 'trian' \(did you mean 'train'\?\)"):
        load_config(None, ["trian.lr=0.1"])


def test_override_of_a_section_the_command_does_not_read_is_an_error():
    with pytest.raises(ConfigError, match="reads only the model and train section"):
        load_config(None, ["data.src_vocab_size=5"], reads=("model", "train"))
    assert load_config(None, ["train.lr=0.1"], reads=("model", "train")) == {"train": {"lr": 0.1}}


def test_config_file_with_an_unknown_section_is_an_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trian:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown section\(s\) 'trian' \(did you mean 'train'\?\)"):
        load_config(path)


def test_config_file_with_a_byte_order_mark_reads_like_one_without(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes("\ufefftrain:\n  lr: 0.5\n".encode())
    assert load_config(path) == {"train": {"lr": 0.5}}


def test_invalid_yaml_value_in_an_override_names_the_override():
    with pytest.raises(ConfigError, match="train.lr=\\[1"):
        apply_override({}, "train.lr=[1")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_config_file_is_an_error_not_every_default(tmp_path, text):
    # `repro train --config empty.yaml` used to train the 384M-parameter paper model with every default
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"empty\.yaml: the config file is empty; give the sections the command "
                                          r"reads \(model, train\)"):
        load_config(path, reads=("model", "train"))
