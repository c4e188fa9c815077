"""`digits`: scikit-learn's real 8x8 handwritten digits as a tensorflow-datasets dataset.

The images ship inside scikit-learn, so the zoo's default dataset needs no network. The
builder writes array_record files without TensorFlow (tensor features, no PNG encoding)
and `tfds.data_source("digits")` reads them back.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

# A fixed, seeded split: 1437 training and 360 test images (the usual 80/20).
SPLIT_SEED = 0
TEST_SIZE = 360


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as uint8 (N, 8, 8, 1) images scaled from 0..16 to 0..255, with labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, data.target.astype(np.int64)


class Digits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 digits (UCI optdigits test set), 10 classes, fixed train/test split."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "scikit-learn's load_digits, seeded 1437/360 split."}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="8x8 grey handwritten digits shipped with scikit-learn (offline).",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
        )

    def _split_generators(self, dl_manager):
        images, labels = digits_arrays()
        order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
        test, train = order[:TEST_SIZE], np.sort(order[TEST_SIZE:])
        test = np.sort(test)
        return {
            "train": self._generate_examples(images[train], labels[train]),
            "test": self._generate_examples(images[test], labels[test]),
        }

    def _generate_examples(self, images, labels):
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image, "label": int(label)}
