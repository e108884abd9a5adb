"""Experiment configs: YAML files with sections, plus dotted ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from repro.errors import ReproError

T = TypeVar("T")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read a YAML config (or start empty) and apply ``section.key=value`` overrides."""
    config: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ReproError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ReproError(f"{path}: invalid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ReproError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        config = loaded
    for item in overrides or []:
        apply_override(config, item)
    return config


def apply_override(config: dict[str, Any], item: str) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as a YAML scalar."""
    if "=" not in item:
        raise ReproError(f"override {item!r}: expected key=value, e.g. train.lr=0.5")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ReproError(f"override {item!r}: empty key")
    node = config
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ReproError(f"override {item!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None


def dataclass_from_dict(cls: type[T], values: dict[str, Any] | None, section: str) -> T:
    """Build dataclass ``cls`` from ``values``, rejecting unknown keys with a clear message."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ReproError(
            f"config section '{section}': unknown key(s) {', '.join(unknown)}; "
            f"known keys: {', '.join(sorted(names))}"
        )
    return cls(**values)
