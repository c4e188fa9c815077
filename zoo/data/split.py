"""ImageSplit: random access to one split's decoded (image, label) records, whatever their source."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zoo.errors import DatasetError

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


@dataclass
class ImageSplit:
    """Random access to one split: `read(indices)` gives uint8 NHWC images and int32 labels.

    `class_names` are the labels a trained model's config.json keeps (folder names, tfds names);
    `flip` overrides the FLIP_SAFE table for sources the table cannot know (image folders).
    """

    dataset: str
    split: str
    source: Sequence[Any]
    num_classes: int
    image_shape: tuple[int, int, int]
    image_key: str = "image"
    label_key: str = "label"
    class_names: tuple[str, ...] | None = None
    flip: bool | None = None

    def __len__(self) -> int:
        return len(self.source)

    def read(self, indices: Iterable[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = [int(i) for i in indices]
        records = None
        getitems = getattr(self.source, "__getitems__", None)
        if getitems is not None:
            try:
                records = getitems(rows)
            except TypeError:  # sources without a working batch read (tfds.testing.mock_data's)
                records = None
        if records is None:
            records = [self.source[i] for i in rows]
        images = np.stack([np.asarray(r[self.image_key]) for r in records])
        if images.ndim == 3:
            images = images[..., None]
        labels = np.asarray([r[self.label_key] for r in records], dtype=np.int32)
        return images, labels

    @property
    def flip_safe(self) -> bool:
        return self.flip if self.flip is not None else self.dataset in FLIP_SAFE


def check_not_empty(name: str, split: str, splits, cause: Exception | None = None) -> None:
    """An empty split (`train[:0]`) is the user's selection, not a broken dataset: say so."""
    try:
        count = splits[split].num_examples
    except Exception:  # noqa: BLE001 - a split tfds cannot size is left to the caller's message
        return
    if count == 0:
        raise DatasetError(
            f"dataset {name!r}: split {split!r} selects no examples; the dataset is fine, the selection is "
            "empty: choose a split with examples, e.g. 'train' or 'train[:90%]'"
        ) from cause


def seeded_holdout(labels: npt.ArrayLike, fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """A boolean test mask: per class, a seeded `fraction` of its examples (one where it has two or more)."""
    per_example = np.asarray(labels)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(per_example), bool)
    for label in np.unique(per_example):
        where = np.flatnonzero(per_example == label)
        held = int(round(len(where) * fraction)) or (1 if len(where) > 1 else 0)
        mask[rng.permutation(where)[:held]] = True
    return mask
