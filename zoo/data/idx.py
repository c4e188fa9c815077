"""MNIST-style datasets (IDX files) prepared without TensorFlow.

The stock tfds builders for mnist and fashion_mnist need TensorFlow to prepare their files;
this builder reads the same IDX files with numpy and writes array_record, so
`--dataset fashion_mnist` works with tensorflow-datasets alone. Files are downloaded from
the usual mirrors, or read from `DATA_DIR/downloads/manual/<name>/` when placed there.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
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

# md5 and length of each file's IDX bytes after gunzip, as Zalando published them: a copy compressed
# again (Debian's dataset-fashion-mnist differs from upstream only in its gzip headers) still matches.
CONTENT = {
    "fashion_mnist": {
        "train_images": ("f4a8712d7a061bf5bd6d2ca38dc4d50a", 47040016),
        "train_labels": ("9018921c3c673c538a1fc5bad174d6f9", 60008),
        "test_images": ("8181f5470baa50b63fa0f6fddb340f0a", 7840016),
        "test_labels": ("15d484375f8d13e6eb1aabb0c3f46965", 10008),
    },
}

# Where system packages put the files (Debian: `apt-get install dataset-fashion-mnist`).
SYSTEM_DIRS = {"fashion_mnist": ("/usr/share/datasets/fashion-mnist",)}
PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}

# A folder holding NAME/ with the four files (or the four files themselves): looked in before the system's.
DIR_ENV = "ZOO_IDX_DIR"

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32, 0x0E: np.float64}


def read_idx(path: str | os.PathLike, expected: tuple[str, int] | None = None) -> np.ndarray:
    """An IDX file (gzipped or not) as a numpy array; a malformed file, or one whose content differs
    from the `expected` (md5, length) of the published file, raises DatasetError."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"{path}: cannot be read ({err}); the file is damaged: replace it") from None
    if expected is not None:
        md5, length = hashlib.md5(data).hexdigest(), len(data)
        if (md5, length) != expected:
            raise DatasetError(
                f"{path}: its content (md5 {md5}, {length} bytes) is not the published file's (md5 {expected[0]}, "
                f"{expected[1]} bytes); replace it with the original"
            )
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
    labels: str = ""  # a class-name list under zoo/labels/, so a trained model's config.json names its classes


def class_names(config: IdxConfig) -> list[str] | None:
    if not config.labels:
        return None
    from importlib import resources

    text = resources.files("zoo").joinpath("labels", config.labels).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line]


class IdxImages(tfds.core.GeneratorBasedBuilder):
    """28x28 grey IDX image sets (mnist, fashion_mnist, kmnist), TensorFlow-free."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.1.0": "Fashion-MNIST's labels carry the class names"}
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
            labels="fashion_mnist.txt",
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
                    "label": (
                        tfds.features.ClassLabel(names=names)
                        if (names := class_names(self.builder_config))
                        else tfds.features.ClassLabel(num_classes=self.builder_config.num_classes)
                    ),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        name = self.builder_config.name
        manual = Path(self.data_dir_root) / "downloads" / "manual" / name
        paths = find_idx_files(name, manual)
        if paths is None:
            if offline():
                raise DatasetError(missing_message(name, manual, "offline (HF_HUB_OFFLINE / ZOO_OFFLINE)"))
            urls = {k: self.builder_config.url + f for k, f in FILES.items()}
            try:
                paths = {k: Path(p) for k, p in dl_manager.download(urls).items()}
            except Exception as err:  # noqa: BLE001 - any download failure means the same to the user
                raise DatasetError(missing_message(name, manual, f"download failed: {type(err).__name__}")) from err
        self._expected = CONTENT.get(name, {})
        return {
            "train": self._generate_examples(paths["train_images"], paths["train_labels"]),
            "test": self._generate_examples(paths["test_images"], paths["test_labels"]),
        }

    def _generate_examples(self, images_path, labels_path):
        expected = getattr(self, "_expected", {})
        image_key = "train_images" if "train" in Path(images_path).name else "test_images"
        label_key = image_key.replace("images", "labels")
        images = read_idx(images_path, expected.get(image_key))
        labels = read_idx(labels_path, expected.get(label_key))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"{images_path} and {labels_path}: expected N images of HxW and N labels, "
                f"got shapes {images.shape} and {labels.shape}"
            )
        if images.shape[1:] != (28, 28):
            raise DatasetError(f"{images_path}: expected 28x28 images, got {images.shape[1:]}")
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image[..., None].astype(np.uint8), "label": int(label)}


def offline() -> bool:
    """Whether downloads are off: HF_HUB_OFFLINE or ZOO_OFFLINE set truthy (the tests set the first)."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "ZOO_OFFLINE")
    )


def candidate_dirs(name: str, manual: Path) -> list[Path]:
    """Where the four files are looked for, in order: tfds' manual folder, $ZOO_IDX_DIR(/NAME), the system's."""
    found = [manual]
    if os.environ.get(DIR_ENV):
        root = Path(os.environ[DIR_ENV])
        found += [root / name, root]
    return found + [Path(p) for p in SYSTEM_DIRS.get(name, ())]


def find_idx_files(name: str, manual: Path) -> dict[str, Path] | None:
    """The four files from the first folder that holds all of them (gzipped or not), else None."""
    for folder in candidate_dirs(name, manual):
        found = {k: next((p for p in (folder / f, folder / f[:-3]) if p.is_file()), None) for k, f in FILES.items()}
        if all(found.values()):
            return {k: p for k, p in found.items() if p is not None}
    return None


def missing_message(name: str, manual: Path, why: str) -> str:
    """What to do when no folder holds the files: the package to install, or where to copy them."""
    package = PACKAGES.get(name)
    how = f"install them with `apt-get install {package}` (no network needed after), or " if package else ""
    return (
        f"the {name} IDX files were not found ({why}); {how}copy the four files {sorted(FILES.values())} into "
        f"{manual} or into ${DIR_ENV}/{name}/, then run again"
    )
