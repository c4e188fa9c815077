"""The registry: names, aliases, wildcards, overrides, and errors that say where."""

from __future__ import annotations

import pytest

import zoo
import zoo.registry as registry_module
from zoo.errors import RegistryError, SpecError, UnknownComponentError, UnknownModelError

PAPER = [
    f"regnet{f}_{k}"
    for f in "xy"
    for k in ("002", "004", "006", "008", "016", "032", "040", "064", "080", "120", "160", "320")
]


def test_registry_holds_the_seed_and_the_24_paper_models():
    names = zoo.list_models()
    assert "regnetx32" in names
    assert set(PAPER) <= set(names)


def test_seed_entry_is_the_books_regnetx32():
    spec = zoo.get_spec("regnetx32")
    assert spec.stem_width == 32 and spec.num_classes == 10 and spec.in_channels == 1 and spec.input_size == 96
    assert [(s.depth, s.width, s.group_width, s.bottleneck_ratio) for s in spec.stages] == [
        (4, 32, 16, 1),
        (6, 80, 16, 1),
    ]


def test_wildcards_filter_names():
    assert zoo.list_models("regnety_0?2") == ["regnety_002", "regnety_032"]
    assert zoo.list_models("nothing*") == []


def test_paper_names_resolve_as_aliases():
    assert zoo.get_spec("RegNetX-3.2GF") == zoo.get_spec("regnetx_032")
    assert zoo.get_spec("RegNetY-200MF") == zoo.get_spec("regnety_002")


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownModelError, match="regnetx_032"):
        zoo.get_spec("regnetx_03")


def test_create_applies_overrides():
    model = zoo.create("regnetx32", num_classes=3, in_channels=3)
    assert model.spec.num_classes == 3 and model.spec.in_channels == 3
    assert model.head.fc.kernel.shape == (80, 3)


def test_create_rejects_unknown_overrides():
    with pytest.raises(SpecError, match="num_clases"):
        zoo.create("regnetx32", num_clases=3)


def test_load_without_pretrained_builds_the_model():
    assert isinstance(zoo.load("regnetx32"), zoo.nn.anynet.AnyNet)


def test_regnety_comes_with_its_plugin(fresh_plugins):
    assert len(zoo.list_models("regnety_*")) == 12
    assert zoo.api.split_tag("regnety_032")[0].plugin == "se"  # contributed by zoo-se, not the core
    fresh_plugins.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    zoo.plugins.reset()
    assert zoo.list_models("regnety_*") == []
    with pytest.raises(UnknownModelError, match=r"zoo-se \(pip install \./plugins/zoo-se\)"):
        zoo.load("regnety_002")
    with pytest.raises(UnknownComponentError, match=r"se_resnext.*pip install \./plugins/zoo-se"):
        zoo.create(zoo.get_spec("regnetx_002").replace(block="se_resnext"))


@pytest.fixture
def registry_file(tmp_path, monkeypatch):
    """Point the core registry at a temporary file the test writes."""
    path = tmp_path / "registry.toml"
    monkeypatch.setattr(registry_module, "REGISTRY_PATH", path)
    return path


def test_malformed_toml_names_the_file(registry_file):
    registry_file.write_text("[models.x\nstem = 1\n")
    with pytest.raises(RegistryError, match=r"registry\.toml is not valid TOML"):
        zoo.list_models()


def test_bad_field_names_file_entry_and_field(registry_file):
    registry_file.write_text('[models.tiny]\ndesign = { rule = "anynet", stages = [[1, 8, 8, 1]] }\nwidht = 3\n')
    with pytest.raises(RegistryError, match=r"registry\.toml: \[models\.tiny\]: unknown field.*widht"):
        zoo.list_models()


def test_bad_design_value_names_file_entry_and_field(registry_file):
    registry_file.write_text('[models.tiny]\ndesign = { rule = "anynet", stages = [[0, 8, 8, 1]] }\n')
    with pytest.raises(SpecError, match=r"\[models\.tiny\] field 'design'.*depth must be >= 1"):
        zoo.get_spec("tiny")


def test_entry_needs_exactly_one_of_design_or_stages(registry_file):
    registry_file.write_text("[models.tiny]\nnum_classes = 3\n")
    with pytest.raises(RegistryError, match=r"\[models\.tiny\]: give exactly one of 'design'"):
        zoo.list_models()


def test_unknown_design_rule_is_named(registry_file):
    registry_file.write_text('[models.tiny]\ndesign = { rule = "spiral" }\n')
    with pytest.raises(UnknownComponentError, match="rule named 'spiral'.*model 'tiny'"):
        zoo.get_spec("tiny")


def test_explicit_stages_and_defaults(registry_file):
    registry_file.write_text(
        "[defaults]\nnum_classes = 4\ninput_size = 32\n"
        "[models.tiny]\nstages = [{ depth = 1, width = 16, group_width = 8 }]\n"
    )
    spec = zoo.get_spec("tiny")
    assert spec.num_classes == 4 and spec.input_size == 32 and spec.widths == [16]


def test_missing_registry_file_says_to_reinstall(registry_file):
    with pytest.raises(RegistryError, match="reinstall"):
        zoo.list_models()
