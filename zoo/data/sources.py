"""Image-classification splits from tensorflow-datasets, read with `tfds.data_source`.

`open_split("digits", "train")` gives random access to decoded (image, label) records,
whatever builder produced them: the zoo's own `digits` and IDX builders, or any tfds
image-classification dataset prepared as array_record.
"""

from __future__ import annotations

import os

from zoo.data.folder import FOLDER_PREFIX, open_folder_split
from zoo.data.preparing import preparing
from zoo.data.reachable import download_blocker, not_prepared_message
from zoo.data.split import FLIP_SAFE, ImageSplit, check_not_empty
from zoo.errors import DatasetError, UnknownDatasetError, did_you_mean
from zoo.split_syntax import split_problem

__all__ = ["FLIP_SAFE", "ImageSplit", "ZOO_DATASETS", "open_split"]

# Datasets the zoo prepares itself, without TensorFlow: name -> tfds builder name.
ZOO_DATASETS = {
    "digits": "digits",
    "mnist": "idx_images/mnist",
    "fashion_mnist": "idx_images/fashion_mnist",
    "kmnist": "idx_images/kmnist",
}

TENSORFLOW_HINT = (
    "tensorflow-datasets needs TensorFlow to prepare this dataset's files: install the optional extra "
    "with `pip install 'anynet-zoo[tensorflow]'` (or `pip install tensorflow`), or prepare it once "
    "elsewhere as array_record into the same data directory"
)


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
            "e.g. dataset=fashion_mnist"
        ) from None
    except ModuleNotFoundError as err:
        raise DatasetError(f"dataset {name!r}: {err}; {TENSORFLOW_HINT}") from err


def _downloads(builder) -> bool:
    """Whether preparing runs tfds' own downloader: tfds.testing.mock_data swaps in a no-op that fetches nothing."""
    import tensorflow_datasets as tfds

    method = getattr(type(builder).download_and_prepare, "__module__", "") or ""
    return isinstance(builder, tfds.core.DatasetBuilder) and not method.startswith("tensorflow_datasets.testing")


def _prepare(builder, name: str) -> None:
    if builder.is_prepared():
        return
    if name not in ZOO_DATASETS and _downloads(builder):  # the zoo's own builders say what is missing offline
        why = download_blocker(getattr(builder.info, "homepage", None))
        if why is not None:
            raise DatasetError(not_prepared_message(name, str(builder.data_dir_root), why))
    try:
        with preparing():
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
    """One split of an image-classification dataset (a tfds name or `folder:PATH`), prepared on first use."""
    problem = split_problem(split)
    if problem:
        raise DatasetError(f"dataset {name!r}: {problem}")
    import tensorflow_datasets as tfds

    data_dir = os.fspath(data_dir) if data_dir is not None else None
    if name.startswith(FOLDER_PREFIX):
        return open_folder_split(name[len(FOLDER_PREFIX) :], split, data_dir=data_dir)
    name = name.strip().lower()
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
        check_not_empty(name, split, builder.info.splits, err)
        raise DatasetError(
            f"dataset {name!r}, split {split!r}: cannot be read as array_record ({err}); "
            f"delete {builder.data_dir} to prepare it again"
        ) from err
    check_not_empty(name, split, builder.info.splits)
    shape = tuple(features[image_key].shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        raise DatasetError(f"dataset {name!r}: expected HxWxC images, got shape {shape}")
    names = tuple(str(n) for n in getattr(features[label_key], "names", None) or ()) or None
    classes = int(features[label_key].num_classes)
    return ImageSplit(name, split, source, classes, shape, image_key, label_key, class_names=names)
