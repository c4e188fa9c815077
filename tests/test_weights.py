"""Weights files: flat keys, metadata, bit-exact round trips, checked keys and shapes, safe failure."""

from __future__ import annotations

import json
import os
import struct
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

import zoo
from zoo.errors import SpecError, WeightsFormatError, WeightsMismatchError, ZooError
from zoo.weights.adapt import PretrainedAdaptationWarning, adapt_input_kernel
from zoo.weights.config import DataConfig, read_config
from zoo.weights.pretrained import save_pretrained
from zoo.weights.state_file import read_arrays, read_header, save_weights, state_arrays

TINY = zoo.ModelSpec(
    stages=(zoo.StageSpec(depth=1, width=8, group_width=4), zoo.StageSpec(depth=2, width=16, group_width=8)),
    stem_width=8,
    num_classes=3,
    in_channels=3,
    input_size=32,
)


def tiny(seed: int = 0, **overrides):
    return zoo.create(TINY, seed=seed, **overrides)


def logits(model, channels: int = 3) -> np.ndarray:
    model.eval()
    x = np.random.default_rng(1).standard_normal((2, 32, 32, channels)).astype(np.float32)
    return np.asarray(model(jnp.asarray(x)))


@pytest.fixture
def saved(tmp_path):
    model = tiny(seed=7)
    save_pretrained(model, tmp_path / "m", labels=["cat", "dog", "emu"])
    return model, tmp_path / "m"


def test_keys_are_the_flat_state_names_and_metadata_carries_the_spec(saved):
    model, folder = saved
    header, metadata = read_header(folder / "model.safetensors")
    assert set(header) == set(state_arrays(model))
    assert {"stem.conv.kernel", "stem.bn.mean", "stages.1.blocks.1.conv2.kernel", "head.fc.kernel"} <= set(header)
    assert metadata["format"] == "anynet-zoo" and metadata["format_version"] == "1"
    assert metadata["zoo_version"] == zoo.__version__
    assert zoo.ModelSpec.from_json(metadata["spec"]) == TINY


def test_folder_round_trip_is_bit_exact(saved):
    model, folder = saved
    loaded = zoo.load(f"local-dir:{folder}")
    for key, value in state_arrays(model).items():
        np.testing.assert_array_equal(state_arrays(loaded)[key], value)
    np.testing.assert_array_equal(logits(loaded), logits(model))


def test_config_json_holds_spec_preprocessing_and_labels(saved):
    _, folder = saved
    config = read_config(folder)
    assert config.spec == TINY and config.labels == ("cat", "dog", "emu")
    assert config.preprocessing == DataConfig(32, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    raw = json.loads((folder / "config.json").read_text())
    assert raw["preprocessing"]["channel_order"] == "RGB" and raw["preprocessing"]["layout"] == "NHWC"


def test_a_file_loads_by_name_or_spec(saved, tmp_path):
    model, folder = saved
    path = str(folder / "model.safetensors")
    np.testing.assert_array_equal(logits(zoo.load(checkpoint_path=path)), logits(model))
    np.testing.assert_array_equal(logits(zoo.load(TINY, checkpoint_path=path)), logits(model))


def test_labels_must_match_the_classes(tmp_path):
    with pytest.raises(SpecError, match="one label per class"):
        save_pretrained(tiny(), tmp_path, labels=["a"])


def test_mismatch_lists_missing_unexpected_and_wrongly_shaped_keys(tmp_path):
    arrays = state_arrays(tiny())
    del arrays["stem.bn.var"]
    arrays["stem.extra"] = np.zeros(2, np.float32)
    arrays["stages.0.blocks.0.conv1.kernel"] = np.zeros((1, 1, 8, 5), np.float32)
    save_file(arrays, str(tmp_path / "bad.safetensors"))
    with pytest.raises(WeightsMismatchError) as info:
        zoo.load(TINY, checkpoint_path=tmp_path / "bad.safetensors")
    err = info.value
    assert err.missing == ["stem.bn.var"] and err.unexpected == ["stem.extra"]
    assert err.mismatched == [("stages.0.blocks.0.conv1.kernel", (1, 1, 8, 5), (1, 1, 8, 8))]
    assert "stem.bn.var" in str(err) and "file [1, 1, 8, 5] vs model [1, 1, 8, 8]" in str(err)


def test_weights_for_another_architecture_do_not_load(saved):
    _, folder = saved
    other = TINY.replace(stem_width=16)
    with pytest.raises(WeightsMismatchError, match="stem.conv.kernel"):
        zoo.load(other, checkpoint_path=folder / "model.safetensors")


def test_other_num_classes_reinitialises_only_the_head(saved):
    model, folder = saved
    with pytest.warns(PretrainedAdaptationWarning, match="freshly initialised"):
        loaded = zoo.load(f"local-dir:{folder}", num_classes=7)
    assert state_arrays(loaded)["head.fc.kernel"].shape == (16, 7)
    np.testing.assert_array_equal(state_arrays(loaded)["stem.conv.kernel"], state_arrays(model)["stem.conv.kernel"])


def test_other_in_channels_adapts_the_stem_as_timm_does(saved):
    model, folder = saved
    kernel = state_arrays(model)["stem.conv.kernel"]
    with pytest.warns(PretrainedAdaptationWarning, match="3 to 1 input channels"):
        gray = zoo.load(f"local-dir:{folder}", in_channels=1)
    np.testing.assert_allclose(state_arrays(gray)["stem.conv.kernel"], kernel.sum(axis=2, keepdims=True), rtol=1e-6)
    with pytest.warns(PretrainedAdaptationWarning):
        five = zoo.load(f"local-dir:{folder}", in_channels=5)
    adapted = state_arrays(five)["stem.conv.kernel"]
    np.testing.assert_allclose(adapted[:, :, 3], kernel[:, :, 0] * 3 / 5, rtol=1e-6)
    # A grey image repeated into every channel gives the same stem response as the original.
    assert np.allclose(adapt_input_kernel(kernel, 6).sum(axis=2), kernel.sum(axis=2), rtol=1e-5)


def test_a_plain_load_gives_no_adaptation_warning(saved):
    _, folder = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zoo.load(f"local-dir:{folder}")


def test_a_failed_write_leaves_no_file_behind(tmp_path, monkeypatch):
    target = tmp_path / "model.safetensors"

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.numpy.save_file", broken)
    with pytest.raises(OSError):
        save_weights(tiny(), target)
    assert list(tmp_path.iterdir()) == []


def test_overwriting_replaces_the_file_whole(saved):
    _, folder = saved
    save_weights(tiny(seed=99), folder / "model.safetensors")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    read_arrays(folder / "model.safetensors")


@pytest.mark.parametrize("cut", [0, 5, 8, 100, -1])
def test_truncated_files_raise_a_format_error(saved, tmp_path, cut):
    _, folder = saved
    data = (folder / "model.safetensors").read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:cut] if cut >= 0 else data[:-3])
    with pytest.raises(WeightsFormatError, match="truncated|corrupt|malformed"):
        zoo.load(TINY, checkpoint_path=bad)


def test_a_folder_without_weights_says_what_to_do(tmp_path):
    with pytest.raises(WeightsFormatError, match="save_pretrained"):
        zoo.load(f"local-dir:{tmp_path}")


def test_a_corrupt_config_raises_a_format_error(saved):
    _, folder = saved
    (folder / "config.json").write_text("{not json")
    with pytest.raises(WeightsFormatError, match="not valid JSON"):
        zoo.load(f"local-dir:{folder}")


def _file(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
tensor_entries = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(["F32", "F16", "I8", "U8", "BF16", "Q4", "f32"]),
        "shape": st.lists(st.integers(-2, 5), max_size=3),
        "data_offsets": st.lists(st.integers(-4, 80), min_size=0, max_size=3),
    }
)
headers = st.dictionaries(
    st.sampled_from(["stem.conv.kernel", "head.fc.bias", "__metadata__", "x"]),
    tensor_entries | json_values,
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=headers, data=st.binary(max_size=80), raw=st.binary(max_size=40), mode=st.sampled_from(["json", "raw"]))
def test_malformed_headers_raise_zoo_errors_never_crash(tmp_path, header, data, raw, mode):
    body = json.dumps(header).encode() if mode == "json" else raw
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(_file(body, data) if mode == "json" else raw)
    try:
        arrays, _ = read_arrays(path)
    except ZooError:
        return
    # Whatever loads must be complete and consistent with its own header.
    table, _ = read_header(path)
    assert set(arrays) == set(table)
    for key, info in table.items():
        assert list(arrays[key].shape) == info["shape"]
    with pytest.raises(ZooError):  # and never silently become a model
        zoo.load(TINY, checkpoint_path=path)


def test_fuzz_corpus_covers_valid_files(tmp_path):
    """The fuzz's 'loads' branch is real: a well-formed file reads back exactly."""
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}
    save_file(arrays, str(tmp_path / "ok.safetensors"))
    loaded, _ = read_arrays(tmp_path / "ok.safetensors")
    np.testing.assert_array_equal(loaded["a"], arrays["a"])
    assert os.path.getsize(tmp_path / "ok.safetensors") > 24


def test_zero_copy_reads_match_safetensors_for_every_dtype(tmp_path):
    from safetensors.numpy import load_file

    rng = np.random.default_rng(0)
    arrays = {
        "f64": rng.standard_normal((2, 3)),
        "f32": rng.standard_normal(5).astype(np.float32),
        "f16": rng.standard_normal((1, 2, 2)).astype(np.float16),
        "i64": np.arange(4, dtype=np.int64),
        "i8": np.array([-3, 7], np.int8),
        "u8": np.array([0, 255], np.uint8),
        "b": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.array(2.5, np.float32),
    }
    save_file(arrays, str(tmp_path / "all.safetensors"))
    ours, _ = read_arrays(tmp_path / "all.safetensors")
    theirs = load_file(str(tmp_path / "all.safetensors"))
    for key in arrays:
        assert ours[key].dtype == theirs[key].dtype and ours[key].shape == theirs[key].shape
        np.testing.assert_array_equal(ours[key], theirs[key])
        assert not ours[key].flags.writeable  # views of the read-only mapping, not copies


@settings(max_examples=100, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(["library_name", "format_version", "spec", "preprocessing", "labels"]), json_values, max_size=5
    )
)
def test_malformed_config_json_raises_a_format_error(data):
    from zoo.weights.config import config_from_dict

    data = {"library_name": "anynet-zoo", "format_version": 1, "spec": TINY.to_dict(), **data}
    try:
        config = config_from_dict(data, "config.json")
    except WeightsFormatError:
        return
    assert isinstance(config.spec, zoo.ModelSpec)
