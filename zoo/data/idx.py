"""MNIST-style datasets (IDX files) prepared without TensorFlow.

The stock tfds builders for mnist and fashion_mnist need TensorFlow to prepare their files;
this builder reads the same IDX files with numpy and writes array_record, so
`--dataset fashion_mnist` works with tensorflow-datasets alone. Files are downloaded from
the usual mirrors, or read from `DATA_DIR/downloads/manual/<name>/` when placed there.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from zoo.errors import DatasetError

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32, 0x0E: np.float64}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (gzipped or not) as a numpy array; a malformed file raises DatasetError."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: not an IDX file (bad magic number); delete it so it is fetched again")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]).newbyteorder(">"), data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = data[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)) * dtype.itemsize:
        raise DatasetError(
            f"{path}: IDX header says shape {shape} but the file holds {len(body)} bytes; "
            "the file is truncated: delete it so it is fetched again"
        )
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


@dataclasses.dataclass
class IdxConfig(tfds.core.BuilderConfig):
    url: str = ""
    num_classes: int = 10
    flip: bool = False


class IdxImages(tfds.core.GeneratorBasedBuilder):
    """28x28 grey IDX image sets (mnist, fashion_mnist, kmnist), TensorFlow-free."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [
        IdxConfig(
            name="mnist",
            description="MNIST handwritten digits",
            url="https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        IdxConfig(
            name="fashion_mnist",
            description="Zalando's Fashion-MNIST",
            flip=True,
            url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        IdxConfig(name="kmnist", description="Kuzushiji-MNIST", url="http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"{self.builder_config.description} (IDX files, prepared without TensorFlow)",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=self.builder_config.num_classes),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        manual = Path(self.data_dir_root) / "downloads" / "manual" / self.builder_config.name
        paths = {}
        for key, filename in FILES.items():
            local = [manual / filename, manual / filename[:-3]]
            found = next((p for p in local if p.exists()), None)
            paths[key] = found
        missing = {k: self.builder_config.url + FILES[k] for k, p in paths.items() if p is None}
        if missing:
            try:
                paths.update({k: Path(p) for k, p in dl_manager.download(missing).items()})
            except Exception as err:  # noqa: BLE001 - any download failure means the same to the user
                raise DatasetError(
                    f"could not download {self.builder_config.name} ({type(err).__name__}: {err}); "
                    f"place the four IDX files {sorted(FILES.values())} in {manual} and run again"
                ) from err
        return {
            "train": self._generate_examples(paths["train_images"], paths["train_labels"]),
            "test": self._generate_examples(paths["test_images"], paths["test_labels"]),
        }

    def _generate_examples(self, images_path, labels_path):
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"{images_path} and {labels_path}: expected N images of HxW and N labels, "
                f"got shapes {images.shape} and {labels.shape}"
            )
        if images.shape[1:] != (28, 28):
            raise DatasetError(f"{images_path}: expected 28x28 images, got {images.shape[1:]}")
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image[..., None].astype(np.uint8), "label": int(label)}
