"""zoo.load as a pipeline (zoo.loading): resolve -> open -> build, config.json read once per load,
the registry built once per plugin generation, and huggingface_hub's keywords on load/download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import zoo
import zoo.registry
from zoo import loading
from zoo.errors import HubReferenceError, OfflineCacheError
from zoo.plugin_kit import hookimpl
from zoo.weights.config import CONFIG_NAME, DataConfig
from zoo.weights.state_file import state_arrays

SPEC = zoo.ModelSpec.from_dict(
    {"stages": [{"depth": 1, "width": 8, "group_width": 4}], "stem_width": 8, "num_classes": 3, "input_size": 32}
)


@pytest.fixture
def config_reads(monkeypatch):
    """Counts every read of a config.json file, whoever reads it."""
    reads: list[str] = []
    read_text = Path.read_text

    def counting(self, *args, **kwargs):
        if self.name == CONFIG_NAME:
            reads.append(str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    return reads


@pytest.fixture
def registry_builds(monkeypatch):
    builds: list[int] = []
    build = zoo.registry.build_registry

    def counting(*args, **kwargs):
        builds.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(zoo.registry, "build_registry", counting)
    return builds


def test_each_source_resolves_to_one_typed_value(tmp_path):
    assert loading.resolve("regnetx32").kind == "init"
    assert loading.resolve(SPEC).spec == SPEC
    packaged = loading.resolve("regnetx32.digits", True)
    assert (packaged.kind, packaged.tag.tag) == ("packaged", "digits")
    assert loading.resolve("regnetx_032", True).kind == "tag"
    hub = loading.resolve("hf-hub:org/repo@v1")
    assert (hub.kind, hub.repo_id, hub.revision) == ("hub", "org/repo", "v1")
    assert loading.resolve("hf-hub:org/repo", revision="v2").revision == "v2"
    assert loading.resolve(f"local-dir:{tmp_path}").path == tmp_path
    assert loading.resolve("regnetx32", checkpoint_path=tmp_path / "m.safetensors").kind == "file"
    with pytest.raises(HubReferenceError, match="give one of them"):
        loading.resolve("hf-hub:org/repo@v1", revision="v2")
    with pytest.raises(HubReferenceError, match="revision="):
        loading.resolve("regnetx32", revision="v2")


def test_a_packaged_tag_reads_its_config_once(config_reads):
    model = zoo.load("regnetx32.digits", pretrained=True)
    assert len(config_reads) == 1, config_reads
    assert zoo.data_config(model).labels == tuple(str(i) for i in range(10))


def test_a_folder_load_reads_its_config_once_and_carries_its_data_config(tmp_path, config_reads):
    model = zoo.create(SPEC, seed=2)
    data = DataConfig(32, (0.5,) * 3, (0.2,) * 3, "bilinear", 1.0, labels=("a", "b", "c"))
    zoo.save_pretrained(model, tmp_path / "m", preprocessing=data)
    config_reads.clear()
    loaded = zoo.load(f"local-dir:{tmp_path / 'm'}")
    assert len(config_reads) == 1, config_reads
    assert zoo.data_config(loaded) == data
    np.testing.assert_array_equal(state_arrays(loaded)["head.fc.kernel"], state_arrays(model)["head.fc.kernel"])


def test_a_hub_load_reads_its_config_once_into_the_cache_dir_it_is_given(hub, tmp_path, config_reads):
    model = zoo.create(SPEC, seed=5)
    zoo.push_to_hub(model, "org/pipe", labels=["x", "y", "z"])
    config_reads.clear()
    cache = tmp_path / "my-cache"
    loaded = zoo.load("hf-hub:org/pipe", cache_dir=cache)
    assert len(config_reads) == 1, config_reads
    assert zoo.data_config(loaded).labels == ("x", "y", "z")
    assert any(cache.rglob(CONFIG_NAME))  # the files went to cache_dir=, not HF_HUB_CACHE
    again = zoo.load("hf-hub:org/pipe", cache_dir=cache, local_files_only=True)
    np.testing.assert_array_equal(state_arrays(again)["head.fc.kernel"], state_arrays(model)["head.fc.kernel"])
    with pytest.raises(OfflineCacheError):
        zoo.load("hf-hub:org/pipe", cache_dir=tmp_path / "empty", local_files_only=True)
    assert zoo.download("hf-hub:org/pipe", cache_dir=tmp_path / "dl").is_relative_to(tmp_path / "dl")


class OneMore:
    @hookimpl
    def zoo_add_models(self):
        return {"pipeline_extra": SPEC.to_dict()}


def test_the_registry_is_built_once_per_plugin_generation(fresh_plugins, registry_builds):
    zoo.load("regnetx32.digits", pretrained=True)
    zoo.load("regnetx32", pretrained="digits")
    zoo.list_models()
    assert len(registry_builds) == 1
    zoo.register_plugin(OneMore(), "pipeline-one-more")  # a new generation: built again, once
    assert "pipeline_extra" in zoo.list_models()
    zoo.load("regnetx32.digits", pretrained=True)
    assert len(registry_builds) == 2
    zoo.unregister_plugin("pipeline-one-more")
    assert "pipeline_extra" not in zoo.list_models()
    assert len(registry_builds) == 3
