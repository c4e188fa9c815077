"""Backbones, the head API, data configs, transforms and predict (docs/usage.md)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import zoo
from zoo.api import resolve_tag
from zoo.cli import main
from zoo.data_config import DataConfig, data_config, label_set
from zoo.errors import SpecError
from zoo.features import FeatureBackbone
from zoo.predict import predict
from zoo.transform import create_transform

PAPER_MODELS = [f"regnet{kind}_{size}" for kind in "xy" for size in
                ("002", "004", "006", "008", "016", "032", "040", "064", "080", "120", "160", "320")]  # fmt: skip


def abstract_outputs(module: nnx.Module, shape: tuple[int, ...]):
    graphdef, state = nnx.split(module)
    return jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, jax.ShapeDtypeStruct(shape, jnp.float32))


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_paper_backbones_give_stem_and_stage_maps_as_their_spec_says(name):
    spec = zoo.get_spec(name)
    backbone = nnx.eval_shape(lambda: zoo.create(name, features_only=True))
    maps = abstract_outputs(backbone, (2, 224, 224, 3))
    assert [f.channels for f in backbone.feature_info] == [spec.stem_width, *spec.widths]
    assert [f.reduction for f in backbone.feature_info] == [2, 4, 8, 16, 32]
    assert [m.shape for m in maps] == [
        (2, 224 // f.reduction, 224 // f.reduction, f.channels) for f in backbone.feature_info
    ]


def test_plugin_stem_reports_its_own_reduction():
    backbone = nnx.eval_shape(lambda: zoo.create("resnet18", features_only=True, out_indices=(0, -1)))
    maps = abstract_outputs(backbone, (1, 64, 64, 3))
    assert [(f.channels, f.reduction) for f in backbone.feature_info] == [(64, 4), (512, 32)]
    assert [m.shape for m in maps] == [(1, 16, 16, 64), (1, 2, 2, 512)]


def test_forward_intermediates_follow_timm_indices():
    model = zoo.create("regnetx32")
    model.eval()
    x = jax.random.normal(jax.random.key(0), (2, 96, 96, 1))
    final, every = model.forward_intermediates(x)
    assert [m.shape[1:] for m in every] == [(48, 48, 32), (24, 24, 32), (12, 12, 80)]
    np.testing.assert_allclose(final, model.forward_features(x), rtol=1e-5, atol=1e-5)
    last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
    np.testing.assert_allclose(last_two[0], every[1], rtol=1e-5, atol=1e-5)
    early, picked = model.forward_intermediates(x, indices=[-2], stop_early=True)
    np.testing.assert_allclose(early, every[1], rtol=1e-5, atol=1e-5)
    with pytest.raises(SpecError, match="out of range"):
        model.forward_intermediates(x, indices=[3])


def test_features_only_model_loads_pretrained_weights(tmp_path):
    trained = zoo.create("regnetx32", seed=7)
    zoo.save_pretrained(trained, tmp_path / "saved")
    backbone = zoo.load(f"local-dir:{tmp_path / 'saved'}", features_only=True, out_indices=(1, 2))
    assert isinstance(backbone, FeatureBackbone) and backbone.out_indices == (1, 2)
    assert not hasattr(backbone, "head")
    x = jax.random.normal(jax.random.key(1), (2, 96, 96, 1))
    trained.eval()
    backbone.eval()
    expected = trained.forward_intermediates(x, indices=(1, 2), intermediates_only=True)
    for got, want in zip(backbone(x), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    fresh = zoo.create("regnetx32", features_only=True, out_indices=(2,))
    fresh.eval()
    assert not np.allclose(fresh(x)[0], expected[1])


def test_out_indices_without_features_only_is_refused():
    with pytest.raises(SpecError, match="features_only=True"):
        zoo.create("regnetx32", out_indices=(1,))


def test_reset_classifier_keeps_spec_and_saved_model_in_sync(tmp_path):
    model = zoo.create("regnetx32")
    assert model.num_features == 80 and model.get_classifier() is model.head
    model.reset_classifier(3)
    assert model.spec.num_classes == 3 and model.num_classes == 3
    zoo.save_pretrained(model, tmp_path / "three")
    again = zoo.load(f"local-dir:{tmp_path / 'three'}")
    x = jnp.ones((1, 96, 96, 1))
    model.eval()
    again.eval()
    assert again.spec.num_classes == 3
    np.testing.assert_array_equal(again(x), model(x))


def test_reset_classifier_zero_removes_the_head(tmp_path):
    model = zoo.create("regnetx32")
    model.reset_classifier(0)
    model.eval()
    x = jnp.ones((2, 96, 96, 1))
    assert model.get_classifier() is None and model.spec.num_classes == 0
    np.testing.assert_allclose(model(x), model.forward_features(x).mean(axis=(1, 2)), rtol=1e-6)
    zoo.save_pretrained(model, tmp_path / "headless")
    config = json.loads((tmp_path / "headless" / "config.json").read_text())
    assert config["spec"]["num_classes"] == 0
    again = zoo.load(f"local-dir:{tmp_path / 'headless'}")
    again.eval()
    assert again.get_classifier() is None
    np.testing.assert_array_equal(again(x), model(x))
    with pytest.raises(SpecError, match="no classifier"):
        predict(again, np.zeros((8, 8)))


def test_loaded_folder_carries_its_data_config(tmp_path):
    model = zoo.create("regnetx32")
    labels = [f"class {i}" for i in range(10)]
    pre = DataConfig(96, (0.2,), (0.3,), "bicubic", 0.9, "L")
    zoo.save_pretrained(model, tmp_path / "m", preprocessing=pre, labels=labels)
    config = zoo.data_config(zoo.load(f"local-dir:{tmp_path / 'm'}"))
    assert config == DataConfig(96, (0.2,), (0.3,), "bicubic", 0.9, "L", tuple(labels))
    assert data_config(zoo.create("regnetx32")).labels is None


def test_imagenet_tags_name_their_classes():
    names = label_set("imagenet-1k")
    assert len(names) == 1000 and len(set(names)) > 990
    assert names[0].startswith("tench") and names[207].startswith("golden retriever")
    tag = resolve_tag("regnetx_032", True)
    config = tag.data_config(zoo.get_spec("regnetx_032"))
    assert config.labels == names and config.crop_pct == 0.875 and config.interpolation == "bicubic"


def test_eval_transform_resizes_crops_and_normalises():
    config = DataConfig(32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "bilinear", 0.5, "RGB")
    image = np.full((40, 80, 3), 255, np.uint8)
    image[:, :20] = 0  # dark left quarter: cropped away by the center crop
    out = create_transform(config)(image)
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, (1.0 - 0.5) / 0.25, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(h=st.integers(4, 120), w=st.integers(4, 120), size=st.integers(4, 64), grey=st.booleans())
def test_transform_output_shape_is_the_configs_whatever_the_image(h, w, size, grey):
    channels = 1 if grey else 3
    config = DataConfig(size, (0.0,) * channels, (1.0,) * channels, "bicubic", 0.875, "L" if grey else "RGB")
    image = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    assert create_transform(config)(image).shape == (size, size, channels)
    assert create_transform(config, train=True)(image).shape == (size, size, channels)


def test_predict_names_top_classes_with_probabilities():
    model = zoo.create("regnetx32")
    model.data_config = DataConfig(96, (0.0,), (1.0,), labels=tuple("abcdefghij"), channel_order="L")
    (result,) = predict(model, np.zeros((8, 8), np.uint8), top_k=3)
    assert len(result.labels) == 3 and set(result.labels) <= set("abcdefghij")
    assert list(result.probabilities) == sorted(result.probabilities, reverse=True)
    assert all(0 <= p <= 1 for p in result.probabilities)


# -- the weights the package ships -------------------------------------------------------------
@pytest.fixture(scope="module")
def digit_images(tmp_path_factory):
    """The first test-split digits of zoo's `digits` dataset, as 8x8 PNG files, with their labels."""
    from zoo.data.digits import SPLIT_SEED, TEST_SIZE, digits_arrays

    images, labels = digits_arrays()
    test = np.sort(np.random.default_rng(SPLIT_SEED).permutation(len(images))[:TEST_SIZE])[:6]
    folder = tmp_path_factory.mktemp("digits")
    paths = []
    for i in test:
        path = folder / f"digit_{i}_{labels[i]}.png"
        Image.fromarray(images[i][..., 0]).save(path)
        paths.append(path)
    return paths, [str(labels[i]) for i in test]


def test_shipped_digits_weights_predict_offline(digit_images, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: any request would fail
    paths, labels = digit_images
    model = zoo.load("regnetx32.digits", pretrained=True)
    assert zoo.data_config(model).labels == tuple(str(i) for i in range(10))
    results = predict(model, paths, top_k=2)
    assert [r.labels[0] for r in results] == labels
    assert all(r.probabilities[0] > 0.5 for r in results)


def test_zoo_predict_command_prints_the_right_digit(digit_images, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    paths, labels = digit_images
    assert main(["predict", "regnetx32.digits", str(paths[0]), str(paths[1]), "--top-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [row["labels"][0] for row in out] == labels[:2] and len(out[0]["labels"]) == 3


# -- export ---------------------------------------------------------------------------------------
RUN_WITHOUT_ZOO = """
import json, sys
import jax, numpy as np
exported = jax.export.deserialize(open(sys.argv[1], "rb").read())
config = json.load(open(sys.argv[2]))
x = np.load(sys.argv[3])
out = {str(n): np.asarray(exported.call(x[:n])).tolist() for n in (1, len(x))}
assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules), "zoo was imported"
print(json.dumps({"logits": out, "input": config["input"]}))
"""


def test_stablehlo_export_runs_without_zoo_at_two_batch_sizes(tmp_path):
    import subprocess
    import sys

    model = zoo.load("regnetx32.digits", pretrained=True)
    exported = zoo.export(model, tmp_path / "out")
    x = np.random.default_rng(0).normal(size=(3, 96, 96, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_ZOO, str(exported.files["stablehlo"]), str(exported.files["data_config"]),
         str(tmp_path / "x.npy")],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    result = json.loads(run.stdout)
    assert result["input"]["shape"] == ["batch", 96, 96, 1]
    model.eval()
    want = np.asarray(model(x))
    np.testing.assert_allclose(np.array(result["logits"]["3"]), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.array(result["logits"]["1"]), want[:1], rtol=1e-4, atol=1e-4)
    saved = json.loads(exported.files["data_config"].read_text())
    assert saved["labels"] == [str(i) for i in range(10)] and saved["mean"] == list(zoo.data_config(model).mean)


def test_zoo_export_command_writes_the_artifact(tmp_path, capsys):
    assert main(["export", "regnetx32.digits", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "model.stablehlo").stat().st_size > 100_000
    assert json.loads((tmp_path / "e" / "data_config.json").read_text())["input_size"] == 96


def test_loading_with_num_classes_zero_drops_the_saved_head(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    full = zoo.load("regnetx32.digits", pretrained=True)
    headless = zoo.load("regnetx32.digits", pretrained=True, num_classes=0)
    full.eval()
    headless.eval()
    x = jnp.ones((1, 96, 96, 1))
    assert headless.get_classifier() is None and zoo.data_config(headless).labels is None
    np.testing.assert_allclose(headless(x), full.forward_head(full.forward_features(x), pre_logits=True), rtol=1e-5)


def test_hub_repo_model_carries_the_pushed_data_config(hub):
    zoo.push_to_hub(zoo.create("regnetx32", num_classes=3), "org/labelled", commit_message="w", labels=["a", "b", "c"])
    config = zoo.data_config(zoo.load("hf-hub:org/labelled"))
    assert config.labels == ("a", "b", "c") and config.input_size == 96 and config.channel_order == "L"
