"""Prediction and evaluation refuse what they cannot score honestly (issue 19, item 4): inputs that
are not images, pixel values whose scale cannot be told, models whose classes are not the data's,
and labels that would drive the terminal."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.data_config import DataConfig
from zoo.errors import DatasetError, LabelMismatchError, PredictError
from zoo.predict import format_predictions, predict
from zoo.train import evaluate
from zoo.transform import create_transform, to_pil

GREY = DataConfig(8, (0.0,), (1.0,), "bilinear", 1.0, "L")


def tiny(num_classes: int = 10, in_channels: int = 1, labels=None):
    spec = zoo.ModelSpec(
        stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, num_classes=num_classes, in_channels=in_channels, input_size=8
    )
    model = zoo.create(spec)
    channels = "L" if in_channels == 1 else "RGB"
    model.data_config = DataConfig(8, (0.0,) * in_channels, (1.0,) * in_channels, "bilinear", 1.0, channels, labels)
    return model


@pytest.fixture(scope="module")
def model():
    return tiny()


@pytest.mark.parametrize(
    "images, match",
    [
        (None, "got NoneType"),
        (7, "got int"),
        ([], "no images"),
        (np.zeros((0, 8, 8, 1), np.uint8), "no images"),
        (np.zeros((0, 0), np.uint8), r"shape \(0, 0\): no pixels"),
        (np.full((8, 8), np.nan, np.float32), "NaN or infinite"),
        (np.full((8, 8), np.inf), "NaN or infinite"),
        ([np.zeros((8, 8)), None], "NoneType, not an image"),
        (np.zeros((2, 2, 2, 8, 8)), "shape"),
        (np.full((8, 8), 200.0), r"float images must be in \[0, 1\]"),
        (np.full((8, 8), 300, np.int64), "integer images other than uint16"),
        (np.full((8, 8), -1, np.int16), "integer images other than uint16"),
        (np.zeros((8, 8), bool), "dtype bool"),
        (np.array([["a"]]), "dtype <U1"),
    ],
)
def test_predict_refuses_what_is_not_an_image(model, images, match):
    with pytest.raises(DatasetError, match=match):
        predict(model, images)


def test_not_an_image_at_all_is_a_predict_error(model):
    for bad in (None, 3, [], 2.5):
        with pytest.raises(PredictError):
            predict(model, bad)


def _png16(path, array16):
    Image.fromarray(array16).save(path)
    assert Image.open(path).mode.startswith("I;16")
    return path


@pytest.mark.parametrize("form", ["uint16", "int64", "float01", "png16", "float_uint8_range_int32"])
def test_every_documented_pixel_type_scales_to_the_same_input(tmp_path, form):
    base = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    expected = create_transform(GREY)(base)
    given = {
        "uint16": lambda: base.astype(np.uint16) * 257,
        "int64": lambda: base.astype(np.int64),
        "float01": lambda: base.astype(np.float32) / 255,
        "png16": lambda: _png16(tmp_path / "deep.png", base.astype(np.uint16) * 257),
        "float_uint8_range_int32": lambda: base.astype(np.int32),
    }[form]()
    np.testing.assert_allclose(create_transform(GREY)(given), expected, atol=1e-6)


def test_a_16_bit_png_is_not_clipped_to_white(tmp_path):
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    image = to_pil(_png16(tmp_path / "ramp.png", ramp))
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), np.rint(ramp / 257).astype(np.uint8))


def test_labels_with_control_characters_are_printed_escaped(model):
    evil = tuple(["\x1b[2J\x1b[31mpwned", "line\nbreak"] + [str(i) for i in range(8)])
    model.data_config = DataConfig(8, (0.0,), (1.0,), "bilinear", 1.0, "L", evil)
    results = predict(model, np.zeros((8, 8), np.uint8), top_k=10)
    text = format_predictions(["\x1b]0;title\x07.png"], results)
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J\\x1b[31mpwned" in text and "line\\nbreak" in text
    assert len(text.splitlines()) == 11  # the image line and one per class: no label adds a line


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def _folder(root, classes):
    for c, name in enumerate(classes):
        for i in range(4):
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), 40 * c + i, np.uint8)).save(root / name / f"{i}.png")
    return f"folder:{root}"


@pytest.mark.parametrize(
    "case, match",
    [
        ("2-class model on 10-class digits", r"model's classes are 2 unnamed classes \[0, 1\] but digits\[test\] has"),
        ("10-class model on a 2-class folder", r"model's classes are \[0, 1, 2, .*\] but .*has \[cat, dog\]"),
        ("folder names differ from the labels", r"model's classes are \[owl, bat\] but .*has \[cat, dog\]"),
    ],
)
def test_evaluation_refuses_a_model_whose_classes_are_not_the_datas(tmp_path, data_dir, case, match):
    if case.startswith("2-class"):
        model, dataset = tiny(2), "digits"
    elif case.startswith("10-class"):
        model, dataset = tiny(10, labels=tuple(str(i) for i in range(10))), _folder(tmp_path / "f", ("cat", "dog"))
    else:
        model, dataset = tiny(2, labels=("owl", "bat")), _folder(tmp_path / "f", ("cat", "dog"))
    with pytest.raises(LabelMismatchError, match=match):
        evaluate(model, dataset, "test" if dataset == "digits" else "train", data_dir=data_dir, image_size=8)


def test_evaluation_of_matching_classes_still_scores(tmp_path, data_dir):
    model = tiny(2, labels=("cat", "dog"))
    metrics = evaluate(model, _folder(tmp_path / "f", ("cat", "dog")), "train", data_dir=data_dir, image_size=8)
    assert metrics["count"] == 6 and 0 <= metrics["top1"] <= 1  # 8 images less the held-out test ones


# -- backbones round-trip (issue 19, item 6) ----------------------------------------------------
@pytest.mark.parametrize("out_indices", [(0,), (1, 2), (2,)])
def test_a_saved_backbone_loads_back_as_itself(tmp_path, out_indices):
    import jax.numpy as jnp

    from zoo.features import FeatureBackbone

    backbone = zoo.create("regnetx32", features_only=True, out_indices=out_indices)
    backbone.eval()
    zoo.save_pretrained(backbone, tmp_path)
    again = zoo.load(f"local-dir:{tmp_path}")
    assert isinstance(again, FeatureBackbone) and again.out_indices == out_indices
    assert again.feature_info == backbone.feature_info
    again.eval()
    x = jnp.linspace(0, 1, 2 * 96 * 96).reshape(2, 96, 96, 1)
    for a, b in zip(backbone(x), again(x)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # same weights, same computation


def test_a_backbones_export_describes_its_feature_maps(tmp_path):
    import json

    backbone = zoo.create("regnetx32", features_only=True, out_indices=(1, 2))
    zoo.export(backbone, tmp_path)
    info = json.loads((tmp_path / "data_config.json").read_text())
    assert [o["name"] for o in info["output"]] == ["features.1", "features.2"]
    assert [o["shape"] for o in info["output"]] == [["batch", 24, 24, 32], ["batch", 12, 12, 80]]
    assert [o["channels"] for o in info["output"]] == [f.channels for f in backbone.feature_info]
