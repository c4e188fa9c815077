"""Image-classification splits from tensorflow-datasets, read with `tfds.data_source`.

`open_split("digits", "train")` gives random access to decoded (image, label) records,
whatever builder produced them: the zoo's own `digits` and IDX builders, or any tfds
image-classification dataset prepared as array_record.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.errors import DatasetError, UnknownDatasetError, did_you_mean

# Datasets the zoo prepares itself, without TensorFlow: name -> tfds builder name.
ZOO_DATASETS = {
    "digits": "digits",
    "mnist": "idx_images/mnist",
    "fashion_mnist": "idx_images/fashion_mnist",
    "kmnist": "idx_images/kmnist",
}

# Where a horizontal flip keeps the label (objects, clothes), as opposed to glyphs and digits.
FLIP_SAFE = {
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "stl10",
    "imagenette",
    "imagenet2012",
    "imagenet_v2",
    "food101",
    "oxford_flowers102",
    "oxford_iiit_pet",
    "caltech101",
    "stanford_dogs",
    "tf_flowers",
}

TENSORFLOW_HINT = (
    "tensorflow-datasets needs TensorFlow to prepare this dataset's files: install the optional extra "
    "with `pip install 'anynet-zoo[tensorflow]'` (or `pip install tensorflow`), or prepare it once "
    "elsewhere as array_record into the same data directory"
)


@dataclass
class ImageSplit:
    """Random access to one split: `read(indices)` gives uint8 NHWC images and int32 labels."""

    dataset: str
    split: str
    source: Sequence[Any]
    num_classes: int
    image_shape: tuple[int, int, int]
    image_key: str = "image"
    label_key: str = "label"

    def __len__(self) -> int:
        return len(self.source)

    def read(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        indices = [int(i) for i in indices]
        records = None
        getitems = getattr(self.source, "__getitems__", None)
        if getitems is not None:
            try:
                records = getitems(indices)
            except TypeError:  # sources without a working batch read (tfds.testing.mock_data's)
                records = None
        if records is None:
            records = [self.source[i] for i in indices]
        images = np.stack([np.asarray(r[self.image_key]) for r in records])
        if images.ndim == 3:
            images = images[..., None]
        labels = np.asarray([r[self.label_key] for r in records], dtype=np.int32)
        return images, labels

    @property
    def flip_safe(self) -> bool:
        return self.dataset in FLIP_SAFE


def _register_zoo_builders() -> None:
    # Importing the modules registers the builders with tfds under their names.
    import zoo.data.digits  # noqa: F401
    import zoo.data.idx  # noqa: F401


def _known_names() -> list[str]:
    import tensorflow_datasets as tfds

    try:
        return sorted(set(ZOO_DATASETS) | set(tfds.list_builders(with_community_datasets=False)))
    except Exception:  # noqa: BLE001 - the hint is a courtesy; never fail on it
        return sorted(ZOO_DATASETS)


def _builder(name: str, data_dir: str | None):
    import tensorflow_datasets as tfds

    _register_zoo_builders()
    tfds_name = ZOO_DATASETS.get(name, name)
    try:
        return tfds.builder(tfds_name, data_dir=data_dir, file_format="array_record")
    except tfds.core.registered.DatasetNotFoundError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}: neither the zoo ({', '.join(ZOO_DATASETS)}) nor tensorflow-datasets "
            f"has it.{did_you_mean(name, _known_names())} Pass any tfds image-classification name, "
            "e.g. --dataset fashion_mnist"
        ) from None
    except ModuleNotFoundError as err:
        raise DatasetError(f"dataset {name!r}: {err}; {TENSORFLOW_HINT}") from err


def _prepare(builder, name: str) -> None:
    if builder.is_prepared():
        return
    try:
        builder.download_and_prepare(file_format="array_record")
    except DatasetError:
        raise
    except ModuleNotFoundError as err:
        if "tensorflow" in str(err):
            raise DatasetError(f"dataset {name!r}: {TENSORFLOW_HINT}") from err
        raise
    except Exception as err:  # noqa: BLE001 - network, disk or format failures all end the same way
        raise DatasetError(
            f"dataset {name!r} could not be prepared in {builder.data_dir} ({type(err).__name__}: {err}); "
            "check the network or place the files under DATA_DIR/downloads/manual"
        ) from err


def open_split(name: str, split: str = "train", *, data_dir: str | os.PathLike | None = None) -> ImageSplit:
    """One split of an image-classification dataset, prepared on first use."""
    import tensorflow_datasets as tfds

    name = name.strip().lower()
    data_dir = os.fspath(data_dir) if data_dir is not None else None
    builder = _builder(name, data_dir)
    features = builder.info.features
    image_key, label_key = builder.info.supervised_keys or ("image", "label")
    if (
        image_key not in features
        or label_key not in features
        or not hasattr(features[label_key], "num_classes")
        or len(getattr(features[image_key], "shape", ())) not in (2, 3)
    ):
        raise DatasetError(
            f"dataset {name!r} is not image classification: it needs an image and a class label "
            f"(its features are {sorted(features.keys())})"
        )
    _prepare(builder, name)
    available = sorted(builder.info.splits.keys())
    if available and split.split("[")[0] not in available:
        raise DatasetError(f"dataset {name!r} has no split {split!r}; its splits are {available}")
    try:
        source = tfds.data_source(
            builder.info.full_name.rsplit("/", 1)[0],
            split=split,
            data_dir=data_dir,
            download=False,
            builder_kwargs={"file_format": "array_record"},
        )
    except Exception as err:  # noqa: BLE001
        raise DatasetError(
            f"dataset {name!r}, split {split!r}: cannot be read as array_record ({err}); "
            f"delete {builder.data_dir} to prepare it again"
        ) from err
    shape = tuple(features[image_key].shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        raise DatasetError(f"dataset {name!r}: expected HxWxC images, got shape {shape}")
    return ImageSplit(name, split, source, int(features[label_key].num_classes), shape, image_key, label_key)
