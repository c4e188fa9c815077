"""Converted timm / transformers RegNet weights reproduce the reference PyTorch logits.

The reference is the real transformers RegNet (PyTorch, CPU), randomly initialised with
non-trivial batch-norm statistics. timm itself cannot be imported here (it imports
torchvision, whose compiled ops do not load with this torch build), so the timm layout is
produced by renaming the reference's tensors to timm's published names (as in timm's
regnet.py: stem.conv, sN.bM.convK.conv/bn, se.fc1/fc2, downsample, head.fc) and must give the
same logits through the timm converter.
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
import torch  # CI installs torch==2.13.0 (CPU) and transformers for these parity tests
import transformers
from contracts import to_timm_names
from safetensors.numpy import save_file

import zoo
from zoo.api import weight_layouts
from zoo.errors import WeightsFormatError
from zoo.weights.layouts import LayoutSet, converted_path, file_sha256


def reference_model(layer_type: str, **config):
    """A randomly initialised transformers RegNet with random BN statistics, in eval mode."""
    torch.manual_seed(0)
    defaults = dict(
        num_channels=3, embedding_size=8, hidden_sizes=[16, 32, 48], depths=[1, 2, 1], groups_width=8, num_labels=5
    )
    cfg = transformers.RegNetConfig(layer_type=layer_type, **{**defaults, **config})
    model = transformers.RegNetForImageClassification(cfg).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


def spec_of(reference) -> zoo.ModelSpec:
    """The spec the transformers layout reads from the reference's config."""
    spec, _ = weight_layouts().spec_from_config(reference.config.to_dict(), "config.json")
    return spec


def reference_logits(model, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(NHWC input, logits) for a fixed random batch."""
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).logits.numpy()
    return x.transpose(0, 2, 3, 1), logits


def our_logits(model, x: np.ndarray) -> np.ndarray:
    model.eval()
    return np.asarray(model(jnp.asarray(x)))


def assert_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) <= 1e-4 * np.max(np.abs(ref)), (ours, ref)


def transformers_state(model) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("layer_type", ["x", "y"])
def test_transformers_checkpoint_folder_reproduces_reference_logits(tmp_path, monkeypatch, layer_type):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "zoo-cache"))
    reference = reference_model(layer_type)
    reference.save_pretrained(tmp_path / "ckpt")
    x, expected = reference_logits(reference)
    assert_close(our_logits(zoo.load(f"local-dir:{tmp_path / 'ckpt'}"), x), expected)


def test_timm_layout_reproduces_reference_logits(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "zoo-cache"))
    reference = reference_model("y")
    timm_state = to_timm_names(transformers_state(reference))
    assert "s2.b1.se.fc1.weight" in timm_state and "s1.b1.downsample.conv.weight" in timm_state
    save_file(timm_state, str(tmp_path / "timm.safetensors"))
    spec = spec_of(reference)
    x, expected = reference_logits(reference)
    assert_close(our_logits(zoo.load(spec, checkpoint_path=tmp_path / "timm.safetensors"), x), expected)


def test_registry_tag_fetches_timm_repo_and_converts(hub, tmp_path):
    """zoo.load('regnetx_002', pretrained=True) -> timm/regnetx_002.pycls_in1k on the (loopback) Hub."""
    spec = zoo.get_spec("regnetx_002")
    reference = reference_model(
        "x",
        embedding_size=spec.stem_width,
        hidden_sizes=spec.widths,
        depths=spec.depths,
        groups_width=spec.stages[0].group_width,
        num_labels=1000,
    )
    weights = tmp_path / "model.safetensors"
    save_file(to_timm_names(transformers_state(reference)), str(weights))
    timm_config = {
        "architecture": "regnetx_002",
        "num_classes": 1000,
        "num_features": spec.widths[-1],
        "pretrained_cfg": {"tag": "pycls_in1k", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    }
    hub.state.put_file("timm/regnetx_002.pycls_in1k", "model.safetensors", weights.read_bytes())
    hub.state.put_file("timm/regnetx_002.pycls_in1k", "config.json", json.dumps(timm_config).encode())
    x, expected = reference_logits(reference)
    assert_close(our_logits(zoo.load("regnetx_002", pretrained=True), x), expected)
    assert_close(our_logits(zoo.load("hf-hub:timm/regnetx_002.pycls_in1k"), x), expected)


def test_conversion_is_cached_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "zoo-cache"))
    reference = reference_model("x")
    reference.save_pretrained(tmp_path / "ckpt")
    zoo.load(f"local-dir:{tmp_path / 'ckpt'}")
    cached = converted_path("transformers", file_sha256(tmp_path / "ckpt" / "model.safetensors"))
    assert cached.is_file()

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(LayoutSet, "to_zoo", no_second_conversion)
    x, expected = reference_logits(reference)
    assert_close(our_logits(zoo.load(f"local-dir:{tmp_path / 'ckpt'}"), x), expected)


def test_layout_is_sniffed_from_tensor_names():
    layouts = weight_layouts()
    assert layouts.from_keys({"stem.conv.kernel", "head.fc.bias"}, "f").name == "zoo"
    assert layouts.from_keys({"stem.conv.weight", "s1.b1.conv1.conv.weight"}, "f").name == "timm"
    assert layouts.from_keys({"regnet.embedder.embedder.convolution.weight"}, "f").name == "transformers"
    with pytest.raises(WeightsFormatError, match="no known weights layout"):
        layouts.from_keys({"features.0.weight"}, "f")


def test_unknown_tensors_in_a_foreign_file_are_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "zoo-cache"))
    reference = reference_model("x")
    state = to_timm_names(transformers_state(reference))
    state["s1.b1.extra.weight"] = np.zeros(3, np.float32)
    save_file(state, str(tmp_path / "odd.safetensors"))
    with pytest.raises(WeightsFormatError, match="s1.b1.extra.weight"):
        zoo.load(spec_of(reference), checkpoint_path=tmp_path / "odd.safetensors")
