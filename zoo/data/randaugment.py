"""RandAugment (Cubuk et al. 2020) on whole NHWC batches in NumPy, for grey and RGB images alike.

Each image gets `ops` operations drawn uniformly (with replacement) from `OPS`, applied in turn at one
global magnitude M in [0, 10]; rotations, shears, translations, brightness and contrast go either way
at random, as in timm's `rand_augment_transform` (whose level ranges these are: 30 degrees, shear 0.3,
translation 0.45 of the side, enhancement factors 1 +- 0.9 at M = 10). The work is vectorised per
operation over the images that drew it, never per image; the randomness is a `RandDraw` made from the
generator of the batch (seed, epoch, batch), drawn for the whole global batch and sliced per process.
Images are pixel values in [0, 255] (any float dtype); geometric operations fill with `fill`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAX_MAGNITUDE = 10.0
OPS = (
    "identity",
    "autocontrast",
    "equalize",
    "rotate",
    "solarize",
    "posterize",
    "contrast",
    "brightness",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)


@dataclass(frozen=True)
class RandDraw:
    """The operations (indices into OPS) and directions (+-1) of each image, one column per layer."""

    ops: np.ndarray  # (n, layers) int
    signs: np.ndarray  # (n, layers) float32

    def __getitem__(self, part: slice) -> RandDraw:
        return RandDraw(self.ops[part], self.signs[part])


@dataclass(frozen=True)
class RandAugment:
    """`ops` operations per image at magnitude `magnitude` (0 to 10)."""

    ops: int
    magnitude: float

    def draw(self, rng: np.random.Generator, n: int) -> RandDraw:
        choices = rng.integers(0, len(OPS), size=(n, self.ops))
        signs = np.where(rng.random((n, self.ops)) < 0.5, -1.0, 1.0).astype(np.float32)
        return RandDraw(choices, signs)

    def apply(self, images: np.ndarray, draw: RandDraw, fill: np.ndarray) -> np.ndarray:
        """The images (NHWC pixel values) with each one's operations applied in turn, clipped to [0, 255]."""
        x = np.asarray(images, np.float32).copy()
        level = self.magnitude / MAX_MAGNITUDE
        for layer in range(draw.ops.shape[1]):
            for k, name in enumerate(OPS):
                chosen = draw.ops[:, layer] == k
                if name != "identity" and chosen.any():
                    x[chosen] = np.clip(_OPS[name](x[chosen], level, draw.signs[chosen, layer], fill), 0, 255)
        return x


# -- geometric operations: one affine warp of the batch, each image its own matrix --------------------------
def warp(images: np.ndarray, matrices: np.ndarray, offsets: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Bilinear resampling: output pixel p (row, column) reads the input at matrices @ (p - centre) +
    centre + offsets; what falls outside the image is `fill` (per channel)."""
    n, h, w, c = images.shape
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij")).reshape(2, -1) - centre[:, None]
    src = np.einsum("nij,jp->nip", matrices, grid) + (centre + offsets)[:, :, None]  # (n, 2, h*w)
    padded = np.empty((n, h + 2, w + 2, c), np.float32)
    padded[:] = np.asarray(fill, np.float32)
    padded[:, 1:-1, 1:-1] = images
    y0, x0 = np.floor(src[:, 0]), np.floor(src[:, 1])
    wy, wx = (src[:, 0] - y0)[..., None], (src[:, 1] - x0)[..., None]
    rows = [np.clip(y0 + d, -1, h).astype(np.intp) + 1 for d in (0, 1)]  # the 1-pixel border holds the fill
    cols = [np.clip(x0 + d, -1, w).astype(np.intp) + 1 for d in (0, 1)]
    at = np.arange(n)[:, None]

    def pixel(r: np.ndarray, q: np.ndarray) -> np.ndarray:
        return padded[at, r, q]

    top = pixel(rows[0], cols[0]) * (1 - wx) + pixel(rows[0], cols[1]) * wx
    bottom = pixel(rows[1], cols[0]) * (1 - wx) + pixel(rows[1], cols[1]) * wx
    return (top * (1 - wy) + bottom * wy).reshape(n, h, w, c).astype(np.float32)


def _affine(images, fill, matrices=None, offsets=None):
    n = len(images)
    matrices = np.broadcast_to(np.eye(2), (n, 2, 2)) if matrices is None else matrices
    offsets = np.zeros((n, 2)) if offsets is None else offsets
    return warp(images, matrices, offsets, fill)


def rotate(images, level, signs, fill):
    theta = np.deg2rad(30.0 * level) * signs
    cos, sin = np.cos(theta), np.sin(theta)
    return _affine(images, fill, matrices=np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1))


def shear_x(images, level, signs, fill):
    s = 0.3 * level * signs
    one, zero = np.ones_like(s), np.zeros_like(s)
    return _affine(images, fill, matrices=np.stack([np.stack([one, zero], -1), np.stack([s, one], -1)], 1))


def shear_y(images, level, signs, fill):
    s = 0.3 * level * signs
    one, zero = np.ones_like(s), np.zeros_like(s)
    return _affine(images, fill, matrices=np.stack([np.stack([one, s], -1), np.stack([zero, one], -1)], 1))


def translate_x(images, level, signs, fill):
    shift = 0.45 * level * images.shape[2] * signs
    return _affine(images, fill, offsets=np.stack([np.zeros_like(shift), shift], -1))


def translate_y(images, level, signs, fill):
    shift = 0.45 * level * images.shape[1] * signs
    return _affine(images, fill, offsets=np.stack([shift, np.zeros_like(shift)], -1))


# -- photometric operations, as PIL's ImageOps / ImageEnhance define them -----------------------------------
def _per_image(values: np.ndarray) -> np.ndarray:
    return values[:, None, None, None]


def brightness(images, level, signs, fill):
    """Blend with black: x * factor."""
    return images * _per_image(1.0 + 0.9 * level * signs)


def contrast(images, level, signs, fill):
    """Blend with the image's mean grey level: mean + factor * (x - mean)."""
    weights = np.array([0.299, 0.587, 0.114], np.float32) if images.shape[-1] == 3 else None
    grey = images @ weights if weights is not None else images.mean(axis=-1)
    mean = _per_image(grey.mean(axis=(1, 2)))
    return mean + _per_image(1.0 + 0.9 * level * signs) * (images - mean)


def solarize(images, level, signs, fill):
    """Invert the pixels at or above a threshold that falls from 256 (nothing) to 0 (everything)."""
    threshold = 256.0 * (1.0 - level)
    return np.where(images >= threshold, 255.0 - images, images)


def posterize(images, level, signs, fill):
    """Keep the top 8 - 4 * level bits of each (rounded) pixel."""
    drop = 2 ** int(4 * level)
    return np.floor(np.round(images) / drop) * drop


def autocontrast(images, level, signs, fill):
    """Stretch each image's channels to the full range [0, 255] (a flat channel stays as it is)."""
    lo = images.min(axis=(1, 2), keepdims=True)
    hi = images.max(axis=(1, 2), keepdims=True)
    span = hi - lo
    return np.where(span > 0, (images - lo) * (255.0 / np.where(span > 0, span, 1.0)), images)


def equalize(images, level, signs, fill):
    """PIL's ImageOps.equalize per image and channel: pixel value v -> (step // 2 + #pixels below v) // step,
    step = (#pixels - #pixels of the brightest value) // 255 (unchanged where step is 0)."""
    v = np.clip(np.round(images), 0, 255).astype(np.intp)
    n, h, w, c = v.shape
    planes = v.transpose(0, 3, 1, 2).reshape(n * c, h * w)
    counts = np.zeros((n * c, 256), np.int64)
    np.add.at(counts, (np.arange(n * c)[:, None], planes), 1)
    brightest = counts[np.arange(n * c), planes.max(axis=1)]
    step = (h * w - brightest) // 255
    below = np.cumsum(counts, axis=1) - counts
    lut = np.where(step[:, None] > 0, (step[:, None] // 2 + below) // np.maximum(step, 1)[:, None], np.arange(256))
    out = np.take_along_axis(np.minimum(lut, 255), planes, axis=1)
    return out.reshape(n, c, h, w).transpose(0, 2, 3, 1).astype(np.float32)


_OPS: dict[str, Callable[..., np.ndarray]] = {
    "autocontrast": autocontrast,
    "equalize": equalize,
    "rotate": rotate,
    "solarize": solarize,
    "posterize": posterize,
    "contrast": contrast,
    "brightness": brightness,
    "shear_x": shear_x,
    "shear_y": shear_y,
    "translate_x": translate_x,
    "translate_y": translate_y,
}
