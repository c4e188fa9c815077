"""Any tfds image-classification dataset goes through the same path (tfds.testing.mock_data, offline)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds

import zoo
from zoo.data import Pipeline, iterate_batches, normalization_for, open_split
from zoo.errors import DatasetError


def test_a_stock_tfds_dataset_is_read_as_image_label_records(tmp_path):
    with tfds.testing.mock_data(num_examples=20):
        split = open_split("cifar10", "train", data_dir=tmp_path)
        assert (len(split), split.num_classes, split.image_shape, split.flip_safe) == (20, 10, (32, 32, 3), True)
        pipe = Pipeline(8, 1, normalization_for(split, 1), augment=True, flip=True)
        batches = list(iterate_batches(split, pipe, 8, train=True, seed=0, epoch=0))
    assert len(batches) == 2 and batches[0].images.shape == (8, 8, 8, 1)
    assert all(set(b.labels.tolist()) <= set(range(10)) for b in batches)


def test_fit_trains_on_a_stock_tfds_dataset(tmp_path):
    from zoo.train import fit

    spec = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, in_channels=3, num_classes=10, input_size=8)
    with tfds.testing.mock_data(num_examples=16):
        result = fit(
            spec,
            dataset="cifar10",
            epochs=1,
            batch_size=8,
            image_size=8,
            data_dir=str(tmp_path),
            progress=False,
            precise_bn_images=0,
        )
    assert len(result.history) == 1 and np.isfinite(result.history[0]["train_loss"])
    assert result.history[0]["step"] == 2


def test_a_dataset_without_class_labels_is_refused(tmp_path):
    with tfds.testing.mock_data(num_examples=4), pytest.raises(DatasetError, match="not image classification"):
        open_split("imdb_reviews", data_dir=tmp_path)
