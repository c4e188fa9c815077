"""In-memory NumPy arrays as ImageSplits, so `fit` trains on data that never touched a disk."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from zoo.data.split import ImageSplit, seeded_holdout
from zoo.errors import DatasetError

ARRAYS = "arrays"


class ArraySource(Sequence):
    """(image, label) records over two arrays, read like a tfds data source."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": self.labels[i]}

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        return [self[i] for i in indices]


def checked_arrays(images: npt.ArrayLike, labels: npt.ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    """NHWC images (NHW is grey) and integer labels of the same length, or a DatasetError saying which is wrong."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] == 0:
        raise DatasetError(
            f"{what} images: expected a non-empty N x H x W (grey) or N x H x W x C array, got shape {images.shape}"
        )
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise DatasetError(f"{what} images: expected integer or float pixels, got dtype {images.dtype}")
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        raise DatasetError(f"{what} images hold NaN or inf pixels; clean them before training")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(f"{what} labels: expected one integer per image ({len(images)}), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{what} labels: expected integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0:
        raise DatasetError(f"{what} labels: class indices start at 0, got {int(labels.min())}")
    return images, labels.astype(np.int64)


def array_splits(
    train: tuple[npt.ArrayLike, npt.ArrayLike],
    test: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[ImageSplit, ImageSplit]:
    """Train and test ImageSplits from (images, labels) pairs; without `test`, a seeded 20% per class
    of `train` is held out (as for image folders)."""
    x, y = checked_arrays(*train, "training")
    if test is None:
        held = seeded_holdout(y)
        if not held.any():
            raise DatasetError("too few training examples to hold out a test split; pass test_data=(images, labels)")
        (tx, ty), (x, y) = (x[held], y[held]), (x[~held], y[~held])
    else:
        tx, ty = checked_arrays(*test, "test")
        if tx.shape[1:] != x.shape[1:]:
            raise DatasetError(f"test images are {tx.shape[1:]} but training images are {x.shape[1:]}")
    count = int(max(y.max(), ty.max())) + 1
    if class_names is not None:
        class_names = tuple(str(n) for n in class_names)
        if len(class_names) < count:
            raise DatasetError(f"{len(class_names)} class names for labels up to {count - 1}; give one name per class")
        count = len(class_names)
    _, height, width, channels = (int(d) for d in x.shape)  # checked_arrays made it NHWC
    shape = (height, width, channels)
    return (
        ImageSplit(ARRAYS, "train", ArraySource(x, y), count, shape, class_names=class_names, flip=False),
        ImageSplit(ARRAYS, "test", ArraySource(tx, ty), count, shape, class_names=class_names, flip=False),
    )
