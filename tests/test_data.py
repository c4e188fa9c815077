"""The data layer: the offline digits set as a tfds dataset, IDX sets without TensorFlow, the pipeline."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from zoo.data import Normalization, Pipeline, iterate_batches, normalization_for, open_split, steps_per_epoch
from zoo.data.idx import read_idx
from zoo.data.prefetch import Prefetch
from zoo.data.transforms import Augmentation, mirror, random_crop, resize
from zoo.errors import DatasetError, TrainConfigError, UnknownDatasetError


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="module")
def digits_train(data_dir):
    return open_split("digits", "train", data_dir=data_dir)


def test_digits_is_a_prepared_tfds_array_record_dataset(digits_train, data_dir):
    import tensorflow_datasets as tfds

    files = sorted(p.name for p in (__import__("pathlib").Path(data_dir) / "digits" / "1.0.0").iterdir())
    assert any(f.startswith("digits-train.array_record") for f in files)
    assert any(f.startswith("digits-test.array_record") for f in files)
    source = tfds.data_source("digits", split="test", data_dir=data_dir, download=False)
    assert len(source) == 360 and source[0]["image"].shape == (8, 8, 1)


def test_digits_split_is_fixed_real_and_disjoint(digits_train, data_dir):
    from zoo.data.digits import digits_arrays

    test = open_split("digits", "test", data_dir=data_dir)
    assert (len(digits_train), len(test), digits_train.num_classes) == (1437, 360, 10)
    train_x, train_y = digits_train.read(range(len(digits_train)))
    test_x, _ = test.read(range(len(test)))
    assert set(np.unique(train_y)) == set(range(10))
    assert train_x.dtype == np.uint8 and train_x.max() == 255
    all_x, _ = digits_arrays()
    as_rows = {x.tobytes() for x in all_x}
    assert {x.tobytes() for x in train_x} <= as_rows and {x.tobytes() for x in test_x} <= as_rows
    # No image of the test split appears in the training split (duplicates in the source aside).
    train_rows = [x.tobytes() for x in train_x]
    overlap = sum(x.tobytes() in set(train_rows) for x in test_x)
    assert overlap <= 2


def test_unknown_dataset_is_a_typed_error_with_suggestions():
    with pytest.raises(UnknownDatasetError, match="fashion_mnist") as err:
        open_split("fashon_mnist")
    assert "Did you mean" in str(err.value)


def test_unknown_split_lists_the_splits(data_dir):
    with pytest.raises(DatasetError, match=r"no split 'validation'.*\['test', 'train'\]"):
        open_split("digits", "validation", data_dir=data_dir)


def _write_idx(path, array: np.ndarray) -> None:
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_idx_sets_prepare_without_tensorflow_from_local_files(tmp_path, monkeypatch):
    monkeypatch.setattr("zoo.data.idx.CONTENT", {})  # the pinned checksums are the published files'; these are ours
    manual = tmp_path / "downloads" / "manual" / "fashion_mnist"
    manual.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train_x, test_x = rng.integers(0, 256, (12, 28, 28), np.uint8), rng.integers(0, 256, (5, 28, 28), np.uint8)
    train_y, test_y = rng.integers(0, 10, 12).astype(np.uint8), rng.integers(0, 10, 5).astype(np.uint8)
    for name, array in [
        ("train-images-idx3-ubyte.gz", train_x),
        ("train-labels-idx1-ubyte.gz", train_y),
        ("t10k-images-idx3-ubyte.gz", test_x),
        ("t10k-labels-idx1-ubyte.gz", test_y),
    ]:
        _write_idx(manual / name, array)
    split = open_split("fashion_mnist", "train", data_dir=tmp_path)
    assert len(split) == 12 and split.image_shape == (28, 28, 1) and split.flip_safe
    images, labels = split.read(range(12))
    # tfds stores records in its own order: compare as sets of (image, label) pairs.
    got = sorted((x.tobytes(), int(y)) for x, y in zip(images[..., 0], labels))
    assert got == sorted((x.tobytes(), int(y)) for x, y in zip(train_x, train_y))
    assert len(open_split("fashion_mnist", "test", data_dir=tmp_path)) == 5


def test_truncated_idx_file_is_a_dataset_error(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    _write_idx(path, np.zeros((3, 28, 28), np.uint8))
    data = gzip.decompress(path.read_bytes())[:-10]
    path.write_bytes(gzip.compress(data))
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(path)


def test_dataset_needing_tensorflow_names_the_extra(monkeypatch, tmp_path):
    from zoo.data import sources

    class NeedsTensorFlow:
        data_dir = str(tmp_path)

        def is_prepared(self):
            return False

        def download_and_prepare(self, **kwargs):
            raise ModuleNotFoundError("No module named 'tensorflow'")

    with pytest.raises(DatasetError, match=r"anynet-zoo\[tensorflow\]"):
        sources._prepare(NeedsTensorFlow(), "cifar10")


def _pipeline(split, size=16, augment=True, flip=False):
    return Pipeline(size, 1, normalization_for(split, 1), augment=augment, flip=flip)


def test_train_batches_are_fixed_size_seeded_and_reshuffled_each_epoch(digits_train):
    pipe = _pipeline(digits_train)
    epoch0 = list(iterate_batches(digits_train, pipe, 100, train=True, seed=3, epoch=0))
    again = list(iterate_batches(digits_train, pipe, 100, train=True, seed=3, epoch=0))
    epoch1 = list(iterate_batches(digits_train, pipe, 100, train=True, seed=3, epoch=1))
    assert len(epoch0) == steps_per_epoch(1437, 100, train=True) == 14
    assert all(b.images.shape == (100, 16, 16, 1) and b.images.dtype == np.float32 for b in epoch0)
    assert all(np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels) for a, b in zip(epoch0, again))
    assert not np.array_equal(epoch0[0].labels, epoch1[0].labels)


def test_batches_resume_mid_epoch_and_split_over_processes(digits_train):
    pipe = _pipeline(digits_train)
    full = list(iterate_batches(digits_train, pipe, 64, train=True, seed=1, epoch=2, prefetch=0))
    resumed = list(iterate_batches(digits_train, pipe, 64, train=True, seed=1, epoch=2, start=5))
    assert all(np.array_equal(a.images, b.images) for a, b in zip(full[5:], resumed))
    halves = [
        list(iterate_batches(digits_train, pipe, 64, train=True, seed=1, epoch=2, process_index=p, process_count=2))
        for p in (0, 1)
    ]
    for b, whole in enumerate(full):
        # Labels and order are promised exactly; pixels only to float tolerance, since the resize runs on a
        # half-size batch here and XLA / NumPy may vectorise the two shapes differently (one ulp apart).
        assert np.array_equal(np.concatenate([halves[0][b].labels, halves[1][b].labels]), whole.labels)
        np.testing.assert_allclose(
            np.concatenate([halves[0][b].images, halves[1][b].images]), whole.images, rtol=1e-5, atol=1e-5
        )


def test_eval_batches_cover_every_example_once_with_masked_padding(data_dir):
    test = open_split("digits", "test", data_dir=data_dir)
    batches = list(iterate_batches(test, _pipeline(test, augment=False), 128, train=False))
    assert [b.images.shape[0] for b in batches] == [128, 128, 128]
    assert sum(float(b.weights.sum()) for b in batches) == 360
    labels = np.concatenate([b.labels[b.weights > 0] for b in batches])
    assert np.array_equal(labels, test.read(range(360))[1])


def test_batch_larger_than_dataset_is_a_config_error():
    with pytest.raises(TrainConfigError, match="larger than the 50 training examples"):
        steps_per_epoch(50, 64, train=True)


def test_digits_are_never_flipped(digits_train):
    assert not digits_train.flip_safe


def test_normalised_training_pixels_have_zero_mean_unit_std(digits_train):
    norm = normalization_for(digits_train, 1)
    x = norm.apply(digits_train.read(range(len(digits_train)))[0])
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3


def test_resize_matches_jax_antialiased_bilinear_both_ways():
    import jax

    assert np.allclose(resize(np.full((2, 8, 8, 1), 3.0), 32), 3.0)
    x = np.random.default_rng(0).random((1, 8, 8, 3)).astype(np.float32)
    for size in (32, 5):
        expected = jax.image.resize(x, (1, size, size, 3), "linear", antialias=True)
        assert np.allclose(resize(x, size), np.asarray(expected), atol=1e-5)


def test_crop_with_centred_offsets_is_identity_and_shifts_otherwise():
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6, 1)
    centre = np.full(2, 2)
    assert np.array_equal(random_crop(x, 2, centre, centre), x)
    shifted = random_crop(x, 2, np.array([0, 4]), np.array([2, 2]))
    assert np.array_equal(shifted[0, 2:], x[0, :4]) and np.all(shifted[0, :2] == 0)
    assert np.array_equal(shifted[1, :4], x[1, 2:])


def test_flip_mirrors_only_the_chosen_images():
    x = np.random.default_rng(0).random((3, 4, 4, 1))
    out = mirror(x, np.array([True, False, True]))
    assert np.array_equal(out[0], x[0, :, ::-1]) and np.array_equal(out[1], x[1])
    aug = Augmentation.draw(np.random.default_rng(0), 1000, 2, flip=True)
    assert 400 < aug.flip.sum() < 600 and aug.dy.min() == 0 and aug.dy.max() == 4


def test_prefetch_yields_in_order_and_reraises_errors():
    assert list(Prefetch(iter(range(10)), 3)) == list(range(10))

    def broken():
        yield 1
        raise RuntimeError("disk gone")

    it = Prefetch(broken())
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="disk gone"):
        next(it)


def test_normalization_round_trips_channel_stats():
    images = np.stack([np.full((4, 4, 1), 0), np.full((4, 4, 1), 255)]).astype(np.uint8)
    norm = Normalization.from_images(images)
    assert norm.mean == (0.5,) and abs(norm.std[0] - 0.5) < 1e-9
