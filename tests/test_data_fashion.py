"""Fashion-MNIST offline: found where a package or the user put it, checked against the published
content, and a missing copy names the package to install and the folder to copy into (issue 22)."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from zoo.data import open_split
from zoo.data.idx import FILES
from zoo.errors import DatasetError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write_set(folder, seed: int = 0) -> dict[str, bytes]:
    """Four small IDX files (12 train, 5 test) in `folder`; returns each key's uncompressed bytes."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (12, 28, 28), np.uint8),
        "train_labels": rng.integers(0, 10, 12).astype(np.uint8),
        "test_images": rng.integers(0, 256, (5, 28, 28), np.uint8),
        "test_labels": rng.integers(0, 10, 5).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    content = {k: idx_bytes(a) for k, a in arrays.items()}
    for key, data in content.items():
        with gzip.open(folder / FILES[key], "wb") as f:
            f.write(data)
    return content


def pin(monkeypatch, content: dict[str, bytes]) -> None:
    sums = {k: (hashlib.md5(v).hexdigest(), len(v)) for k, v in content.items()}
    monkeypatch.setattr("zoo.data.idx.CONTENT", {"fashion_mnist": sums})


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    """This machine may have the Debian package installed: the tests never look there."""
    monkeypatch.setattr("zoo.data.idx.SYSTEM_DIRS", {"fashion_mnist": (str(tmp_path / "no-system-copy"),)})
    monkeypatch.delenv("ZOO_IDX_DIR", raising=False)


def test_files_in_zoo_idx_dir_are_found_checked_and_prepared(tmp_path, monkeypatch, no_system_copy):
    pin(monkeypatch, write_set(tmp_path / "idx" / "fashion_mnist"))
    monkeypatch.setenv("ZOO_IDX_DIR", str(tmp_path / "idx"))
    split = open_split("fashion_mnist", "train", data_dir=tmp_path / "tfds")
    assert len(split) == 12 and split.num_classes == 10
    assert len(open_split("fashion_mnist", "test", data_dir=tmp_path / "tfds")) == 5


def test_a_system_package_folder_is_found(tmp_path, monkeypatch):
    pin(monkeypatch, write_set(tmp_path / "usr-share"))
    monkeypatch.setattr("zoo.data.idx.SYSTEM_DIRS", {"fashion_mnist": (str(tmp_path / "usr-share"),)})
    monkeypatch.delenv("ZOO_IDX_DIR", raising=False)
    assert len(open_split("fashion_mnist", "test", data_dir=tmp_path / "tfds")) == 5


def test_a_copy_whose_content_differs_from_the_published_files_is_refused(tmp_path, monkeypatch, no_system_copy):
    content = write_set(tmp_path / "idx" / "fashion_mnist")
    pin(monkeypatch, {**content, "train_images": b"something else"})
    monkeypatch.setenv("ZOO_IDX_DIR", str(tmp_path / "idx"))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz: its content \(md5 [0-9a-f]{32}, "):
        open_split("fashion_mnist", "train", data_dir=tmp_path / "tfds")


def test_no_copy_offline_names_the_package_and_the_folder_at_once(tmp_path, monkeypatch, no_system_copy):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetError) as info:
        open_split("fashion_mnist", "train", data_dir=tmp_path / "tfds")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "tfds" / "downloads" / "manual" / "fashion_mnist") in message and "ZOO_IDX_DIR" in message


def test_the_split_names_its_classes_so_a_trained_model_does(tmp_path, monkeypatch, no_system_copy):
    pin(monkeypatch, write_set(tmp_path / "idx" / "fashion_mnist"))
    monkeypatch.setenv("ZOO_IDX_DIR", str(tmp_path / "idx"))
    split = open_split("fashion_mnist", "test", data_dir=tmp_path / "tfds")
    assert split.class_names is not None and split.class_names[0] == "T-shirt/top" and len(split.class_names) == 10
