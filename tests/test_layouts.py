"""Weight layouts are components: a plugin registers one through the hook and files in it load;
the core names nothing of zoo-se (its block, models and key mapping come with the plugin)."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file

import zoo
from zoo import plugin_kit as kit
from zoo.api import weight_layouts
from zoo.errors import ComponentContractError, PluginConflictError, WeightsFormatError
from zoo.weights.state_file import read_arrays

ROOT = Path(__file__).resolve().parents[1]
HINT_TABLE = ROOT / "zoo" / "plugins" / "first_party.toml"
TOY_PREFIX = "toy::"


class ToyLayout:
    """A third party's layout: our tensor names behind a prefix, and a config naming the model."""

    @staticmethod
    def to_zoo(arrays, context):
        return {k.removeprefix(TOY_PREFIX): np.asarray(v) for k, v in arrays.items()}

    @staticmethod
    def spec_from_config(config, where, context):
        return context.spec_for_name(config["toy_model"])

    @kit.hookimpl
    def zoo_add_weight_layouts(self):
        return [
            kit.WeightLayout(
                "toy",
                lambda config: "toy_model" in config,
                lambda keys: all(k.startswith(TOY_PREFIX) for k in keys),
                self.to_zoo,
                self.spec_from_config,
                "test layout",
            )
        ]


@pytest.fixture
def toy_files(tmp_path, fresh_plugins):
    """A regnetx32 saved in the toy layout: a folder with a config.json, and its weights file."""
    model = zoo.create("regnetx32", seed=3)
    zoo.save_pretrained(model, tmp_path / "ours")
    arrays, _ = read_arrays(tmp_path / "ours" / "model.safetensors")
    folder = tmp_path / "toy"
    folder.mkdir()
    save_file({TOY_PREFIX + k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"toy_model": "regnetx32"}))
    fresh_plugins.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    return model, folder


def logits(model) -> np.ndarray:
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 96, 96, 1)).astype(np.float32)
    return np.asarray(model(jnp.asarray(x)))


def test_a_plugin_layout_loads_a_folder_and_a_file(toy_files):
    model, folder = toy_files
    with pytest.raises(WeightsFormatError, match="no known weights layout"):
        zoo.load(f"local-dir:{folder}")
    name = zoo.register_plugin(ToyLayout(), "toy-layout")
    assert "toy" in weight_layouts().layouts
    np.testing.assert_array_equal(logits(zoo.load(f"local-dir:{folder}")), logits(model))
    from_file = zoo.load("regnetx32", checkpoint_path=folder / "model.safetensors")  # recognised by its keys
    np.testing.assert_array_equal(logits(from_file), logits(model))
    zoo.unregister_plugin(name)
    with pytest.raises(WeightsFormatError, match="no known weights layout"):
        zoo.load("regnetx32", checkpoint_path=folder / "model.safetensors")


def test_a_layout_two_plugins_claim_is_an_error(toy_files):
    _, folder = toy_files
    zoo.register_plugin(ToyLayout(), "toy-a")

    class Greedy:
        @kit.hookimpl
        def zoo_add_weight_layouts(self):
            return [kit.WeightLayout("greedy", lambda c: True, lambda k: True, None, ToyLayout.spec_from_config)]

    zoo.register_plugin(Greedy(), "greedy")
    with pytest.raises(WeightsFormatError, match=r"several weights layouts claim.*greedy.*toy"):
        zoo.load(f"local-dir:{folder}")


def test_a_layout_name_is_taken_once_and_records_are_checked(fresh_plugins):
    class Clash:
        @kit.hookimpl
        def zoo_add_weight_layouts(self):
            return [kit.WeightLayout("timm", lambda c: False, lambda k: False, None, ToyLayout.spec_from_config)]

    with pytest.raises(PluginConflictError, match="layout 'timm'"):
        zoo.register_plugin(Clash(), "clash")

    class Broken:
        @kit.hookimpl
        def zoo_add_layout_parts(self):
            return [kit.LayoutPart("p", "timm", map_block="not callable")]

    with pytest.raises(ComponentContractError, match="map_block must be callable"):
        zoo.register_plugin(Broken(), "broken")


def test_without_zoo_se_a_y_config_names_what_is_missing(fresh_plugins):
    config = {"model_type": "regnet", "layer_type": "y", "hidden_sizes": [8], "depths": [1], "groups_width": 8}
    spec, layout = weight_layouts().spec_from_config(config, "config.json")
    assert layout.name == "transformers" and spec.block == "se_" + "resnext"  # zoo-se's part says so
    fresh_plugins.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    zoo.plugins.reset()
    assert weight_layouts().parts == ()
    with pytest.raises(WeightsFormatError, match="layer_type 'y' needs a block no loaded plugin maps"):
        weight_layouts().spec_from_config(config, "config.json")


def core_files() -> list[Path]:
    files = [p for p in (ROOT / "zoo").rglob("*") if p.is_file() and p.suffix in {".py", ".toml", ".md"}]
    return [p for p in files if p.resolve() != HINT_TABLE] + [ROOT / "registry.toml"]


def test_the_core_names_nothing_of_zoo_se():
    """zoo-se brings its block, models and key mapping; only the install-hint table names them."""
    offenders = []
    for path in core_files():
        text = path.read_text(encoding="utf-8")
        for word in ("se_resnext", "attention.", "regnety"):
            if word in text.lower():
                offenders.append(f"{path.relative_to(ROOT)}: {word}")
    assert offenders == []
    assert "regnety_*" in HINT_TABLE.read_text(encoding="utf-8")
