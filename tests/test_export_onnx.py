"""ONNX export: onnxruntime runs model.onnx to the zoo's own eval logits, for every paper family."""

from __future__ import annotations

import json
import sys

import jax
import numpy as np
import onnxruntime  # CI installs it with the test extra (the onnx extra: onnx, onnxruntime)
import pytest
from flax import nnx

import zoo
from zoo.cli import main
from zoo.errors import ExportError

FAMILIES = {
    "regnetx_002": dict(input_size=32),  # RegNetX, the zoo's own blocks
    "regnety_002": dict(input_size=32),  # RegNetY: zoo-se's squeeze-excitation (reduce, sigmoid, broadcast)
    "regnetx32": dict(pretrained=True),  # the seed, its Fashion-MNIST weights, 28x28 grey
}


def perturbed(model):
    """Random init leaves the residual branches near zero (zero-init BN scale); nudge every parameter
    so that each layer shapes the logits the export is compared on."""
    params = nnx.state(model, nnx.Param)
    leaves, tree = jax.tree.flatten(params)
    rng = np.random.default_rng(0)
    noisy = [leaf + 0.05 * rng.standard_normal(leaf.shape).astype(leaf.dtype) for leaf in leaves]
    nnx.update(model, jax.tree.unflatten(tree, noisy))
    return model


def run(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0]


@pytest.mark.parametrize("name", FAMILIES)
def test_onnxruntime_matches_eval_logits_at_batch_1_and_3(name, tmp_path):
    model = zoo.load(name, **FAMILIES[name])
    if name != "regnetx32":
        perturbed(model)
    exported = zoo.export(model, tmp_path, formats=("onnx",))
    assert set(exported.files) == {"onnx", "data_config"}
    config = json.loads(exported.files["data_config"].read_text())
    size, channels = config["input_size"], model.spec.in_channels
    x = np.random.default_rng(1).normal(size=(3, size, size, channels)).astype(np.float32)
    model.eval()
    want = np.asarray(model(x))
    assert np.ptp(want, axis=0).max() > 1e-2, "the logits should depend on the input"
    np.testing.assert_allclose(run(exported.files["onnx"], x), want, rtol=0, atol=1e-4)
    np.testing.assert_allclose(run(exported.files["onnx"], x[:1]), want[:1], rtol=0, atol=1e-4)
    assert config["files"] == {"onnx": "model.onnx"} and config["input"]["shape"] == ["batch", size, size, channels]


def test_an_out_ending_in_onnx_is_that_file_with_data_config_beside_it(tmp_path, capsys):
    assert main(["export", "regnetx32", str(tmp_path / "out" / "fashion.onnx")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data_config.json", "fashion.onnx"]
    assert json.loads((tmp_path / "out" / "data_config.json").read_text())["files"] == {"onnx": "fashion.onnx"}
    assert "onnx: " in capsys.readouterr().out


def test_format_onnx_writes_model_onnx_into_the_folder(tmp_path, capsys):
    assert main(["export", "regnetx32", str(tmp_path / "e"), "--format", "onnx"]) == 0
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["data_config.json", "model.onnx"]


@pytest.mark.parametrize(
    ("target", "formats", "match"),
    [
        ("model.onnx", ("stablehlo",), "names one ONNX file"),
        ("model.onnx", ("onnx", "stablehlo"), "names one ONNX file"),
        ("model.tflite", None, "named like a .tflite file"),
        ("model.stablehlo", ("onnx",), "named like a .stablehlo file"),
    ],
)
def test_other_file_like_targets_are_refused_before_work(target, formats, match, tmp_path):
    with pytest.raises(ExportError, match=match):
        zoo.export(zoo.create("regnetx32"), tmp_path / target, formats=formats)
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    with pytest.raises(ExportError, match=r"pip install 'anynet-zoo\[onnx\]'"):
        zoo.export(zoo.create("regnetx32"), tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []
