"""The registry of data sources: a source is one module of repro/data/sources, found without a list."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from repro.data.config import PrepareConfig, make_source
from repro.data.sources import SOURCES
from repro.data.sources.base import NoOptions, ParallelSource, SourceSettings
from repro.data.sources.synthetic import SyntheticSource
from repro.errors import ConfigError, ReproError

BUILT_IN = ("local", "multi30k", "schwenk", "synthetic", "wmt14")


@pytest.fixture
def registry() -> Iterator[dict[str, type[ParallelSource]]]:
    """The registry, restored after the test (a class defined in a test registers itself for good)."""
    saved = dict(SOURCES)
    yield SOURCES
    SOURCES.clear()
    SOURCES.update(saved)


def test_every_module_of_the_package_registers_its_source() -> None:
    assert tuple(SOURCES) == BUILT_IN  # module order
    for name, cls in SOURCES.items():
        assert cls.name == name and cls.__module__ == f"repro.data.sources.{name}"


def test_a_source_defined_anywhere_is_found_by_name(registry: dict[str, type[ParallelSource]]) -> None:
    class ToySource(ParallelSource):
        name = "toy"

        def __init__(self, seed: int) -> None:
            self.seed = seed

        @classmethod
        def from_options(cls, options: NoOptions, settings: SourceSettings) -> ToySource:
            return cls(settings.seed)

        def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
            yield "a", "b"

    assert registry["toy"] is ToySource and "toy" in SOURCES
    config = PrepareConfig.from_dict({"source": "toy", "seed": 7})  # validation knows it
    source = make_source(config)
    assert isinstance(source, ToySource) and source.seed == 7
    with pytest.raises(ConfigError, match="choose one of local, multi30k, schwenk, synthetic, wmt14, toy"):
        PrepareConfig(source="toys")


def test_a_subclass_without_a_name_of_its_own_is_not_registered(registry: dict[str, type[ParallelSource]]) -> None:
    class Quieter(SyntheticSource):
        pretokenized = True

    assert SOURCES["synthetic"] is SyntheticSource and len(registry) == len(BUILT_IN)


@pytest.mark.parametrize("name", ["synthetic", "not an identifier", "class"])
def test_a_taken_or_unusable_name_fails_when_the_class_is_defined(
        name: str, registry: dict[str, type[ParallelSource]]) -> None:
    with pytest.raises(TypeError, match="taken by SyntheticSource|must be an identifier"):
        type("Clash", (ParallelSource,), {"name": name})
    assert len(registry) == len(BUILT_IN)


def test_each_source_has_its_options_section_and_meta_json_records_them_all() -> None:
    fields = [f.name for f in dataclasses.fields(PrepareConfig)]
    assert fields[-len(BUILT_IN):] == list(BUILT_IN)
    assert set(dataclasses.asdict(PrepareConfig())) >= set(BUILT_IN)
    config = PrepareConfig.from_dict({"source": "wmt14", "wmt14": {"max_train_pairs": 10}})
    assert make_source(config).options.max_train_pairs == 10
    assert PrepareConfig.from_dict(dataclasses.asdict(config)) == config  # meta.json's config reads back


def test_unknown_sources_and_sections_fail_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="data.source: unknown source 'wmt15'; choose one of "
                                          "local, multi30k, schwenk, synthetic, wmt14"):
        PrepareConfig.from_dict({"source": "wmt15"})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) wmt15 \(did you mean 'wmt14'\?\)"):
        PrepareConfig.from_dict({"source": "wmt14", "wmt15": {}})
    with pytest.raises(ConfigError, match=r"data\.schwenk: expected a mapping"):
        PrepareConfig.from_dict({"source": "schwenk", "schwenk": 3})
    with pytest.raises(ConfigError, match=r"data\.local must be a mapping of options"):
        PrepareConfig(source="local", local=[1])
    assert PrepareConfig(synthetic=None).synthetic == {}  # `synthetic:` left empty
    with pytest.raises(ReproError, match=r"data\.multi30k.*base_ur"):
        make_source(PrepareConfig(source="multi30k", multi30k={"base_ur": "x"}))
