"""Batch transforms in numpy: resize, channel match, normalise, random crop with padding, flip.

Everything works on whole NHWC batches (vectorised, no per-image Python), and randomness
comes only from the generator passed in, so a batch is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import DatasetError

if TYPE_CHECKING:
    from zoo.data.randaugment import RandDraw


def resize_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights of a triangle (bilinear) filter, widened when shrinking (antialias)."""
    scale = src / dst
    support = max(scale, 1.0)
    centers = (np.arange(dst) + 0.5) * scale
    taps = np.arange(src) + 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(taps[None, :] - centers[:, None]) / support)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Float NHWC images resized to size x size."""
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images.astype(np.float32, copy=False)
    rows, cols = resize_matrix(h, size), resize_matrix(w, size)
    out = np.einsum("sh,nhwc->nswc", rows, images.astype(np.float32), optimize=True)
    return np.einsum("tw,nswc->nstc", cols, out, optimize=True)


def check_channels(have: int, channels: int, dataset: str) -> None:
    """DatasetError unless a dataset's images have the model's channel count: training never turns
    RGB into grey or grey into RGB behind the user's back."""
    if have == channels:
        return
    raise DatasetError(
        f"{dataset} has {have}-channel images but the model takes {channels}-channel input; build the model "
        f"for the data with in_channels={have} (zoo.load(MODEL, in_channels={have}, pretrained=...) adapts "
        "a pretrained stem; zoo.create(..., in_channels=...) for a new one) and pass it to fit, or convert "
        f"the images to {channels} channel(s) first"
    )


def match_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Grey -> RGB by repetition, RGB -> grey by averaging; anything else is an error."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 1:
        return np.repeat(images, channels, axis=-1)
    if channels == 1:
        return images.mean(axis=-1, keepdims=True)
    raise DatasetError(
        f"images have {have} channels but the model takes {channels}; "
        "pick a model whose in_channels is 1, 3 or the dataset's channel count"
    )


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std of pixels scaled to [0, 1]."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_images(cls, images: np.ndarray) -> Normalization:
        pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        std = np.maximum(pixels.std(axis=0), 1e-3)
        return cls(tuple(float(m) for m in pixels.mean(axis=0)), tuple(float(s) for s in std))

    def apply(self, images: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean, np.float32) * 255.0
        std = np.asarray(self.std, np.float32) * 255.0
        return (images.astype(np.float32) - mean) / std


@dataclass(frozen=True)
class Augmentation:
    """Per-image crop offsets and flips for a batch (and RandAugment's operations, a
    zoo.data.randaugment.RandDraw, when on); drawn once, sliced for each process."""

    dy: np.ndarray
    dx: np.ndarray
    flip: np.ndarray
    ops: RandDraw | None = None

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, pad: int, flip: bool) -> Augmentation:
        dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
        mirror = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
        return cls(dy, dx, mirror)

    def __getitem__(self, part: slice) -> Augmentation:
        return Augmentation(self.dy[part], self.dx[part], self.flip[part], None if self.ops is None else self.ops[part])


def random_crop(images: np.ndarray, pad: int, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Zero-pad by `pad` (zero is the mean after normalising) and crop back at offsets (dy, dx)."""
    if pad <= 0:
        return images
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def mirror(images: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Mirror the images where `which` is true, left to right."""
    out = images.copy()
    out[which] = out[which, :, ::-1]
    return out
