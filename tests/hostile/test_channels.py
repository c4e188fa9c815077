"""Channels are never changed silently (issue 24, item 2): a call on NCHW or the wrong channel count,
and training on data whose channel count is not the model's, stop with a zoo error saying what to do."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from zoo.errors import DatasetError, InputShapeError
from zoo.train import fit

SPEC = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, num_classes=2, in_channels=3, input_size=8)


@pytest.fixture(scope="module")
def rgb():
    return zoo.create(SPEC)


@pytest.mark.parametrize(
    "shape, match",
    [
        (
            (2, 3, 8, 8),
            r"NHWC input with 3 channel\(s\), shaped \(N, H, W, 3\), got \(2, 3, 8, 8\); this looks like NCHW",
        ),
        ((2, 8, 8, 1), r"NHWC input with 3 channel\(s\), shaped \(N, H, W, 3\), got \(2, 8, 8, 1\); convert"),
        ((8, 8, 3), r"NHWC batch shaped \(N, H, W, 3\), got an array of shape \(8, 8, 3\); add a batch axis"),
        ((2, 2, 8, 8, 3), r"NHWC batch shaped \(N, H, W, 3\)"),
    ],
)
@pytest.mark.parametrize("call", ["model", "features", "intermediates", "backbone"])
def test_a_call_on_the_wrong_layout_names_nhwc_and_the_expected_shape(rgb, shape, match, call):
    x = jnp.zeros(shape)
    fn = {
        "model": lambda: rgb(x),
        "features": lambda: rgb.forward_features(x),
        "intermediates": lambda: rgb.forward_intermediates(x),
        "backbone": lambda: zoo.create(SPEC, features_only=True)(x),
    }[call]
    with pytest.raises(InputShapeError, match=match):
        fn()


def test_the_right_layout_still_runs(rgb):
    assert rgb(jnp.zeros((2, 8, 8, 3))).shape == (2, 2)


@pytest.mark.parametrize("data_channels, model_channels", [(3, 1), (1, 3)])
def test_training_on_data_with_another_channel_count_stops_naming_both(data_channels, model_channels):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 8, 8, data_channels), dtype=np.uint8)
    labels = np.arange(16) % 2
    model = zoo.create(SPEC.replace(in_channels=model_channels))
    with pytest.raises(DatasetError) as caught:
        fit(model, data=(images, labels), epochs=1, batch_size=8, progress=False)
    message = str(caught.value)
    assert f"{data_channels}-channel images" in message and f"takes {model_channels}-channel input" in message
    assert f"in_channels={data_channels}" in message


def test_following_the_advice_trains():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    model = zoo.create(SPEC.replace(in_channels=3))
    result = fit(model, data=(images, np.arange(16) % 2), epochs=1, batch_size=8, progress=False)
    assert result.model.spec.in_channels == 3
