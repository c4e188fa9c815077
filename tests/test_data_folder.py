"""Your own images: ImageFolder trees prepared as tfds datasets, and in-memory arrays for `fit`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import zoo
from zoo.data import open_split
from zoo.data.arrays import array_splits
from zoo.data.split import seeded_holdout
from zoo.errors import DatasetError
from zoo.train import TrainConfig, fit

CLASSES = ("cat", "dog", "owl")
TINY = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, in_channels=3, num_classes=3, input_size=8)


def _png(path, value: int, size=(10, 12), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def make_tree(root, per_class: int = 10, classes=CLASSES, **kwargs):
    for c, name in enumerate(classes):
        for i in range(per_class):
            _png(root / name / f"{i}.png", 100 * c + i, **kwargs)
    return root


def test_a_folder_tree_trains_and_its_folder_names_are_the_labels(tmp_path):
    tree = make_tree(tmp_path / "pets")
    (tmp_path / "pets" / "notes.txt").write_text("not an image")
    config = TrainConfig(
        dataset=f"folder:{tree}", epochs=1, batch_size=8, image_size=8, data_dir=str(tmp_path / "tfds")
    )
    result = fit(TINY, config, out_dir=tmp_path / "run", progress=False)
    assert len(result.history) == 1 and result.history[0]["step"] == 3  # 24 training images / 8
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["labels"] == list(CLASSES)
    train = open_split(f"folder:{tree}", "train", data_dir=tmp_path / "tfds")
    test = open_split(f"folder:{tree}", "test", data_dir=tmp_path / "tfds")
    assert (len(train), len(test)) == (24, 6) and train.class_names == CLASSES
    assert train.image_shape == (12, 10, 3)
    # The seeded split holds out two files of each class; the stored pixels are the files' own.
    images, labels = test.read(range(len(test)))
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 2, 2]
    originals = {np.asarray(Image.open(p)).tobytes() for p in tree.rglob("*.png")}
    assert all(image.tobytes() in originals for image in images)


def test_train_and_test_subfolders_are_used_as_given(tmp_path):
    root = tmp_path / "split"
    make_tree(root / "train", per_class=4, classes=("a", "b"), mode="L")
    make_tree(root / "test", per_class=2, classes=("a", "b"), mode="L")
    train = open_split(f"folder:{root}", "train", data_dir=tmp_path / "tfds")
    test = open_split(f"folder:{root}", "test", data_dir=tmp_path / "tfds")
    assert (len(train), len(test), train.image_shape, train.class_names) == (8, 4, (12, 10, 1), ("a", "b"))


def test_images_of_different_sizes_are_resized_and_centre_cropped(tmp_path):
    root = tmp_path / "mixed"
    _png(root / "a" / "0.png", 1, size=(20, 10))
    _png(root / "a" / "1.png", 2, size=(16, 16))
    _png(root / "b" / "0.png", 3, size=(30, 40))
    _png(root / "b" / "1.png", 4, size=(12, 12))
    split = open_split(f"folder:{root}", "train", data_dir=tmp_path / "tfds")
    assert split.image_shape == (14, 14, 3)  # the median shorter side of 10, 16, 30 and 12
    assert split.read(range(len(split)))[0].shape[1:] == (14, 14, 3)


def test_an_edited_tree_is_prepared_again(tmp_path):
    tree = make_tree(tmp_path / "t", per_class=3, classes=("a", "b"))
    before = len(open_split(f"folder:{tree}", "train", data_dir=tmp_path / "tfds"))
    _png(tree / "a" / "new.png", 99)
    _png(tree / "b" / "new.png", 98)
    assert len(open_split(f"folder:{tree}", "train", data_dir=tmp_path / "tfds")) == before + 2


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda root: (root / "empty").mkdir(), "no images found in"),
        (lambda root: make_tree(root, classes=("only",)), "only one class ('only'"),
        (
            lambda root: [make_tree(root), (root / "dog" / "broken.png").write_bytes(b"\x89PNG not really")],
            "broken.png",
        ),
    ],
    ids=["no-images", "one-class", "unreadable-file"],
)
def test_bad_trees_are_typed_errors_naming_the_place(tmp_path, build, message):
    root = tmp_path / "bad"
    root.mkdir()
    build(root)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        open_split(f"folder:{root}", "train", data_dir=tmp_path / "tfds")


def test_a_missing_folder_is_a_typed_error(tmp_path):
    with pytest.raises(DatasetError, match="not a directory"):
        open_split(f"folder:{tmp_path / 'nowhere'}", "train", data_dir=tmp_path / "tfds")


def test_fit_trains_on_numpy_arrays_with_class_names(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (45, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(45) % 3
    result = fit(
        TINY,
        data=(images, labels),
        class_names=["r", "g", "b"],
        epochs=1,
        batch_size=8,
        image_size=8,
        out_dir=tmp_path / "run",
        progress=False,
    )
    assert result.history[0]["step"] == 4  # 36 of the 45 are trained on, 9 held out (20% per class, seeded)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["labels"] == ["r", "g", "b"]
    train, test = array_splits((images, labels))
    assert (len(train), len(test)) == (36, 9)
    held = {img.tobytes() for img in test.read(range(9))[0]}
    assert not held & {img.tobytes() for img in train.read(range(36))[0]}


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((4, 8)), np.zeros(4, int), "expected a non-empty N x H x W"),
        (np.zeros((4, 8, 8)), np.zeros(3, int), "one integer per image"),
        (np.zeros((4, 8, 8)), np.zeros(4), "integer class indices"),
        (np.full((4, 8, 8), np.nan), np.zeros(4, int), "NaN"),
        (np.zeros((4, 8, 8)), -np.ones(4, int), "start at 0"),
    ],
)
def test_bad_arrays_are_typed_errors(images, labels, message):
    with pytest.raises(DatasetError, match=message):
        array_splits((images, labels), (images, labels))


@given(st.lists(st.integers(0, 4), min_size=1, max_size=60), st.integers(0, 3))
def test_the_seeded_holdout_takes_a_fifth_of_every_class_and_is_stable(labels, seed):
    labels = np.asarray(labels)
    held = seeded_holdout(labels, 0.2, seed)
    assert np.array_equal(held, seeded_holdout(labels, 0.2, seed))
    for label in np.unique(labels):
        count = int((labels == label).sum())
        expected = int(round(count * 0.2)) or (1 if count > 1 else 0)
        assert int(held[labels == label].sum()) == expected
        assert count == 1 or not held[labels == label].all()  # a class never loses all its training images


def test_sixteen_bit_images_are_scaled_by_the_pixel_rule_not_clipped(tmp_path):
    """A 16-bit grey PNG of value 257*v is stored as v (Pillow's own conversion would clip it to 255)."""
    for label, level in (("dark", 40), ("light", 200)):
        folder = tmp_path / "tree" / "train" / label
        folder.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((6, 6), 257 * level + i, np.uint16)).save(folder / f"{i}.png")
            assert Image.open(folder / f"{i}.png").mode.startswith("I;16")
    split = open_split(f"folder:{tmp_path / 'tree'}", "train", data_dir=str(tmp_path / "tfds"))
    levels = {int(split.source[i]["label"]): int(split.source[i]["image"].max()) for i in range(len(split.source))}
    names = split.class_names
    assert {names[label]: level for label, level in levels.items()} == {"dark": 40, "light": 200}
