"""Experiment configs: YAML + dotted overrides, unknown keys rejected with the section named."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from repro.config import apply_override, dataclass_from_dict, load_config
from repro.errors import ReproError


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
