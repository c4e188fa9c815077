"""`folder:PATH`: an ImageFolder tree (one subfolder per class) prepared once as a tfds dataset.

The layout timm and Hugging Face datasets read: PATH/<class>/<image>, or PATH/train/<class>/...
and PATH/test/<class>/... for a fixed split; without test/, a seeded, per-class 80/20 split is
drawn. Images are decoded with Pillow and written as array_record by a tfds builder (no
TensorFlow), once per tree: the dataset's config name carries a digest of the file list, so
an edited tree is prepared again. Folder names become the class labels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from zoo.data.preparing import preparing
from zoo.data.split import ImageSplit, check_not_empty, seeded_holdout
from zoo.errors import DatasetError
from zoo.paths import open_image
from zoo.pixels import eight_bit

FOLDER_PREFIX = "folder:"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
SPLIT_DIRS = ("train", "test")
TEST_FRACTION = 0.2
SPLIT_SEED = 0
MAX_SIDE = 256


@dataclass(frozen=True)
class FolderTree:
    """What a scan of the tree found: classes, (file, label) per split, the stored image shape."""

    root: Path
    classes: tuple[str, ...]
    files: dict[str, list[tuple[str, int]]]
    shape: tuple[int, int, int]
    digest: str


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in p.parts)
    )


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan_classes(folder: Path) -> dict[str, list[Path]]:
    found = {d.name: _images_in(d) for d in _class_dirs(folder)}
    return {name: files for name, files in found.items() if files}


def _header(path: Path) -> tuple[int, int, str]:
    from PIL import UnidentifiedImageError

    try:
        with open_image(path, error=DatasetError) as image:
            return image.height, image.width, image.mode
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DatasetError(f"{path}: cannot be read as an image ({err}); remove or replace the file") from None


def _stored_shape(headers: list[tuple[int, int, str]]) -> tuple[int, int, int]:
    channels = 1 if all(mode in GREY_MODES for _, _, mode in headers) else 3
    sizes = {(h, w) for h, w, _ in headers}
    if len(sizes) == 1 and max(next(iter(sizes))) <= MAX_SIDE:
        h, w = next(iter(sizes))
        return h, w, channels
    side = int(min(MAX_SIDE, np.median([min(h, w) for h, w, _ in headers])))
    return side, side, channels


def scan_tree(root: str | os.PathLike) -> FolderTree:
    """Classes and files of an ImageFolder tree; a tree that cannot train raises DatasetError."""
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(f"folder:{root}: not a directory; give a folder with one subfolder of images per class")
    subdirs = {d.name for d in _class_dirs(root)}
    explicit = "train" in subdirs and subdirs <= set(SPLIT_DIRS)
    trees = {s: _scan_classes(root / s) for s in SPLIT_DIRS if (root / s).is_dir()} if explicit else {}
    train = trees.get("train") if explicit else _scan_classes(root)
    if not train:
        where = root / "train" if explicit else root
        raise DatasetError(
            f"no images found in {where}: expected one subfolder per class holding image files "
            f"({', '.join(sorted(s[1:] for s in IMAGE_SUFFIXES))})"
        )
    classes = tuple(sorted(train))
    if len(classes) < 2:
        raise DatasetError(
            f"{root} has only one class ({classes[0]!r} in {root / ('train' if explicit else '') / classes[0]}); "
            "classification needs at least two class subfolders"
        )
    for name in classes:
        if "\n" in name or "\r" in name:
            raise DatasetError(f"{root}: class folder {name!r} has a line break in its name; rename it")
    if explicit and "test" in trees:
        stray = sorted(set(trees["test"]) - set(classes))
        if stray:
            raise DatasetError(
                f"{root / 'test'} has classes {stray} that {root / 'train'} does not; "
                "give every test class training images, or remove those folders"
            )
        files = {s: [(str(p), classes.index(c)) for c in classes for p in trees[s].get(c, [])] for s in SPLIT_DIRS}
    else:
        files = _seeded_split(train, classes)
    if not files["test"]:
        raise DatasetError(f"{root / 'test'} holds no images; add some or remove the folder to split train/ instead")
    every = [Path(p) for split in files.values() for p, _ in split]
    headers = [_header(p) for p in every]
    digest = hashlib.sha256()
    for p in every:
        stat = p.stat()
        digest.update(f"{p}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return FolderTree(root, classes, files, _stored_shape(headers), digest.hexdigest()[:16])


def _seeded_split(train: dict[str, list[Path]], classes: tuple[str, ...]) -> dict[str, list[tuple[str, int]]]:
    """Per class, a seeded TEST_FRACTION of the files is held out for testing."""
    pairs = [(str(p), label) for label, name in enumerate(classes) for p in train[name]]
    test = seeded_holdout([label for _, label in pairs], TEST_FRACTION, SPLIT_SEED)
    return {
        "train": [pair for pair, held in zip(pairs, test) if not held],
        "test": [pair for pair, held in zip(pairs, test) if held],
    }


def decode(path: str, shape: tuple[int, int, int]) -> np.ndarray:
    """One file as a uint8 HxWxC array of the stored shape (shorter side resized, centre crop)."""
    from PIL import Image, ImageOps

    h, w, channels = shape
    try:
        with open_image(path, error=DatasetError) as opened:
            image = eight_bit(opened, path).convert("L" if channels == 1 else "RGB")
            if image.size != (w, h):
                image = ImageOps.fit(image, (w, h), method=Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot be decoded as an image ({err}); remove or replace the file") from None
    return array.reshape(h, w, channels)


@dataclasses.dataclass
class FolderConfig(tfds.core.BuilderConfig):
    tree: FolderTree | None = dataclasses.field(default=None, repr=False)


class ZooImageFolder(tfds.core.GeneratorBasedBuilder):
    """An ImageFolder tree as a tfds dataset, prepared without TensorFlow (one config per tree)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Images decoded with Pillow, stored as uint8 tensors in array_record.",
        "1.1.0": "16-bit and float images scaled to 8 bits by zoo.pixels' rule (Pillow clipped them).",
    }

    def _info(self) -> tfds.core.DatasetInfo:
        tree = self.builder_config.tree
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"Image folder {tree.root}",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=tree.shape, dtype=np.uint8),
                    "label": tfds.features.ClassLabel(names=list(tree.classes)),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        tree = self.builder_config.tree
        return {split: self._generate_examples(files, tree.shape) for split, files in tree.files.items()}

    def _generate_examples(self, files, shape):
        for i, (path, label) in enumerate(files):
            yield i, {"image": decode(path, shape), "label": label}


def folder_builder(root: str | os.PathLike, data_dir: str | None) -> ZooImageFolder:
    tree = scan_tree(root)
    slug = re.sub(r"[^a-z0-9]+", "_", tree.root.name.lower()).strip("_")[:40] or "root"
    config = FolderConfig(name=f"{slug}_{tree.digest}", version=ZooImageFolder.VERSION, tree=tree)
    return ZooImageFolder(config=config, data_dir=data_dir, file_format="array_record")


def open_folder_split(root: str, split: str, *, data_dir: str | None = None) -> ImageSplit:
    """One split (`train`, `test`, or a slice such as `train[:90%]`) of an image folder."""
    name = f"{FOLDER_PREFIX}{root}"
    builder = folder_builder(root, data_dir)
    if not builder.is_prepared():
        try:
            with preparing():
                builder.download_and_prepare(file_format="array_record")
        except DatasetError:
            raise
        except OSError as err:
            raise DatasetError(f"{name}: could not be prepared in {builder.data_dir} ({err})") from err
    available = sorted(builder.info.splits.keys())
    if split.split("[")[0] not in available:
        raise DatasetError(f"dataset {name!r} has no split {split!r}; its splits are {available}")
    check_not_empty(name, split, builder.info.splits)
    tree = builder.builder_config.tree
    source = builder.as_data_source(split=split)
    return ImageSplit(name, split, source, len(tree.classes), tree.shape, class_names=tree.classes, flip=True)
