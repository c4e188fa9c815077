"""Untrusted config.json and weights files are refused before any model is built, quickly and by a typed error."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import zoo
from zoo.errors import HubError, SpecError, WeightsFormatError, WeightsMismatchError, WeightsValueError
from zoo.weights.checks import ALLOW_NONFINITE_ENV
from zoo.weights.pretrained import save_pretrained
from zoo.weights.state_file import read_arrays, save_arrays

TINY = zoo.ModelSpec(
    stages=(zoo.StageSpec(depth=1, width=8, group_width=4), zoo.StageSpec(depth=1, width=16, group_width=8)),
    stem_width=8,
    num_classes=3,
    in_channels=3,
    input_size=32,
)
QUICK = 5.0  # seconds: generous for a loaded machine; the refusals take milliseconds


@pytest.fixture
def folder(tmp_path):
    return save_pretrained(zoo.create(TINY, seed=1), tmp_path / "m")


def rewrite_config(folder, change) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config["spec"])
    path.write_text(json.dumps(config))


def rewrite_weights(folder, change) -> None:
    arrays, metadata = read_arrays(folder / "model.safetensors")
    arrays = {k: np.array(v) for k, v in arrays.items()}
    change(arrays)
    save_arrays(arrays, folder / "model.safetensors", metadata=metadata)


@pytest.mark.parametrize("depth", [3, 200, 100_000])
def test_a_config_deeper_than_its_weights_is_refused_before_building(folder, depth):
    rewrite_config(folder, lambda spec: spec["stages"][0].update(depth=depth))
    start = time.perf_counter()
    with pytest.raises((WeightsMismatchError, WeightsFormatError)) as info:
        zoo.load(f"local-dir:{folder}")
    assert time.perf_counter() - start < QUICK
    message = str(info.value)
    assert "blocks per stage" in message or "exceeds the limit of 128" in message


def test_a_huge_width_override_is_refused_not_allocated(folder):
    start = time.perf_counter()
    with pytest.raises(SpecError, match="num_classes 10000000 exceeds the limit"):
        zoo.load(f"local-dir:{folder}", num_classes=10**7)
    assert time.perf_counter() - start < QUICK


def test_a_config_with_a_wider_stage_is_a_shape_mismatch(folder):
    rewrite_config(folder, lambda spec: spec["stages"][1].update(width=32, group_width=8))
    with pytest.raises(WeightsMismatchError, match="wrongly shaped"):
        zoo.load(f"local-dir:{folder}")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_keys(folder, monkeypatch, bad):
    def poison(arrays):
        arrays["stem.conv.kernel"][0, 0, 0, 0] = bad
        arrays["head.fc.bias"][1] = bad

    rewrite_weights(folder, poison)
    with pytest.raises(WeightsValueError, match=r"NaN or infinite values in 2 tensor\(s\): head.fc.bias, stem.conv"):
        zoo.load(f"local-dir:{folder}")
    monkeypatch.setenv(ALLOW_NONFINITE_ENV, "1")
    loaded = zoo.load(f"local-dir:{folder}")  # the research opt-out
    assert not np.isfinite(np.asarray(loaded.head.fc.bias[...])).all()


@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.uint8])
def test_integer_or_bool_tensors_where_floats_belong_are_refused(folder, dtype):
    rewrite_weights(folder, lambda arrays: arrays.update({"stem.bn.var": arrays["stem.bn.var"].astype(dtype)}))
    with pytest.raises(WeightsValueError, match=r"integer or boolean tensors.*stem.bn.var"):
        zoo.load(f"local-dir:{folder}")


def test_push_refuses_a_folder_whose_config_and_weights_do_not_fit(folder, hub):
    rewrite_config(folder, lambda spec: spec["stages"][0].update(depth=2))
    with pytest.raises(WeightsMismatchError, match="blocks per stage"):
        zoo.hub.client.push_folder(folder, "org/mismatch")
    assert "org/mismatch" not in hub.state.repos and not [r for r in hub.requests if r[0] == "POST"]


def test_push_refuses_non_finite_weights(folder, hub):
    rewrite_weights(folder, lambda arrays: arrays["head.fc.kernel"].__setitem__((0, 0), np.nan))
    with pytest.raises(WeightsValueError, match="head.fc.kernel"):
        zoo.hub.client.push_folder(folder, "org/nan")
    assert hub.requests == []


def test_push_refuses_a_bad_repo_id_before_any_request(folder, hub):
    for repo_id in ("", "a/b/c", "org/..", "../x", "org/na me"):
        with pytest.raises(HubError, match="not a Hub repo id"):
            zoo.hub.client.push_folder(folder, repo_id)
    with pytest.raises(HubError, match="not a valid branch"):
        zoo.hub.client.push_folder(folder, "org/ok", revision="../../x")
    assert hub.requests == []


def test_a_deeply_nested_or_huge_config_json_is_a_format_error(folder, monkeypatch):
    (folder / "config.json").write_text("[" * 100_000)
    with pytest.raises(WeightsFormatError, match="nests too deeply"):
        zoo.load(f"local-dir:{folder}")
    monkeypatch.setattr("zoo.weights.config.MAX_CONFIG_BYTES", 1000)
    (folder / "config.json").write_text(json.dumps({"labels": ["x" * 2000]}))
    with pytest.raises(WeightsFormatError, match="more than the 1,000 a config.json may have"):
        zoo.load(f"local-dir:{folder}")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["preprocessing"].update(std=[0.0, 1.0, 1.0]), "std > 0"),
        (lambda c: c["preprocessing"].update(mean=[float("nan")] * 3), "finite mean"),
        (lambda c: c["preprocessing"].update(input_size=1e400), "malformed 'preprocessing'"),
        (lambda c: c["preprocessing"].update(input_size=10**9), "input_size from 1 to"),
        (lambda c: c["preprocessing"].update(mean=[0.5], std=[0.5]), "one per channel"),
        (lambda c: c.update(labels=[1, 2, 3]), "one name \\(a string\\) per class"),
    ],
)
def test_a_config_with_impossible_preprocessing_or_labels_is_a_format_error(folder, change, message):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    with pytest.raises(WeightsFormatError, match=message):
        zoo.load(f"local-dir:{folder}")
