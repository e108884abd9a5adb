"""Experiment configs: YAML files with sections, plus dotted ``key=value`` overrides.

Every section is read by one dataclass (``data`` by ``PrepareConfig``, ``model`` by ``ModelConfig``,
``train`` by ``TrainConfig``, ``decode`` by ``DecodeConfig``, ...). ``dataclass_from_dict`` builds it,
rejecting an unknown key or a value of the wrong type with a ``ConfigError`` that names the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from repro.errors import ConfigError

T = TypeVar("T")

# The top-level keys of an experiment config (workflows/schemas/config.schema.yaml describes them).
SECTIONS = ("experiment", "reference", "records_from", "data", "model", "train", "decode", "paper", "ablations", "resources")
# What a device setting (train.device, decode.device, --device) may say; repro.device resolves it.
DEVICES = ("auto", "cpu", "cuda")


def load_config(path: str | Path | None, overrides: list[str] | None = None,
                reads: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Read a YAML config (or start empty) and apply ``section.key=value`` overrides.

    ``reads`` names the sections the calling command reads: an override of any other section would be
    silently ignored, so it is an error.
    """
    config: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found" if not path.exists()
                              else f"{path}: is a directory, expected a YAML config file")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        if loaded is None:  # an empty file, or comments only: every setting would silently be a default
            raise ConfigError(f"{path}: the config file is empty; give the sections the command reads"
                              f"{' (' + ', '.join(reads) + ')' if reads else ''}, or leave out --config to use "
                              "the defaults deliberately")
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        unknown = sorted(set(loaded) - set(SECTIONS), key=str)
        if unknown:
            raise ConfigError(f"{path}: unknown section(s) {', '.join(map(repr, unknown))}"
                              f"{_suggest(str(unknown[0]), SECTIONS)}; known sections: {', '.join(SECTIONS)}")
        config = loaded
    for item in overrides or []:
        apply_override(config, item, reads)
    return config


def apply_override(config: dict[str, Any], item: str, reads: tuple[str, ...] | None = None) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as a YAML scalar."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key=value, e.g. train.lr=0.5")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r}: empty key")
    if parts[0] not in SECTIONS:
        raise ConfigError(f"override {item!r}: unknown section {parts[0]!r}{_suggest(parts[0], SECTIONS)}; "
                          f"known sections: {', '.join(SECTIONS)}")
    if reads is not None and parts[0] not in reads:
        raise ConfigError(f"override {item!r}: this command reads only the {' and '.join(reads)} section(s), "
                          f"so a value under {parts[0]!r} would be ignored")
    node = config
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: the value is not valid YAML ({exc.__class__.__name__})") from exc


def dataclass_from_dict(cls: type[T], values: dict[str, Any] | None, section: str) -> T:
    """Build dataclass ``cls`` from ``values``: unknown keys and values of the wrong type are errors.

    Each value is checked against the field's annotation, so ``max_steps: 2.5`` or ``lr: abc`` fail here
    with the key named, instead of deep inside the run. A float field also takes a string such as
    ``1e-3`` (YAML 1.1 reads exponents without a dot as strings); an int field takes an integral float;
    numbers and booleans may be strings, as ``snakemake --config 'section={key: value}'`` passes them.
    """
    if values is not None and not isinstance(values, dict):
        raise ConfigError(f"config section '{section}' must be a mapping, got {type(values).__name__}")
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(names), key=str)
    if unknown:
        raise ConfigError(
            f"config section '{section}': unknown key(s) {', '.join(map(str, unknown))}"
            f"{_suggest(str(unknown[0]), names)}; known keys: {', '.join(sorted(names))}"
        )
    checked = {name: coerce(value, hints[name], f"{section}.{name}") for name, value in values.items()}
    try:
        return cls(**checked)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config section '{section}': {exc}") from exc


def coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against the type annotation ``hint``; a ConfigError naming ``key`` if it does not fit."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        arms = typing.get_args(hint)
        if value is None and type(None) in arms:
            return None
        given = [a for a in arms if a is not type(None)]
        if len(given) == 1 and typing.get_origin(given[0]) in (list, dict):
            return coerce(value, given[0], key)  # its error names the item, e.g. key[1]
        for arm in given:
            try:
                return coerce(value, arm, key)
            except ConfigError:
                continue
        expected = " or ".join(_describe(a) for a in arms)
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint) or (Any,)
        return [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping (a section), got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):  # snakemake --config passes strings
            return value.lower() == "true"
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):  # snakemake --config: strings
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def _describe(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is list:
        return "a list"
    if typing.get_origin(hint) is dict or hint is dict:
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def _suggest(name: str, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
