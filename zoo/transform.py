"""`create_transform`: an image -> model-input function built from a data config (PIL and NumPy).

Eval: resize the short side to input_size / crop_pct, center-crop input_size, scale to
[0, 1], normalise, as timm's eval transform does. Train adds a random resized crop and a
horizontal flip. Outputs are float32 HWC arrays in the model's channel order; no TensorFlow.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from zoo.data_config import DataConfig
from zoo.errors import DatasetError, SpecError
from zoo.paths import open_image
from zoo.pixels import eight_bit, to_uint8

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
PIL_MODES = {"L": "L", "RGB": "RGB", "BGR": "RGB"}


def to_pil(image: Any, where: str = "image") -> Image.Image:
    """A PIL image from a PIL image, a path, or an array of shape HW, HW1, HW3 or HW4.

    Pixel values follow zoo.pixels' rule (uint8, uint16, 0..255 integers, [0, 1] floats);
    anything else is a DatasetError rather than a silently rescaled image.
    """
    if isinstance(image, Image.Image):
        return eight_bit(image, where)
    if isinstance(image, (str, os.PathLike)):
        try:
            with open_image(image, error=DatasetError) as opened:
                return eight_bit(opened.copy(), os.fspath(image))
        except (OSError, ValueError) as err:  # a header that parsed over a body that does not decode
            raise DatasetError(
                f"cannot read image {os.fspath(image)!r}: {err}; give a PNG, JPEG or other PIL format"
            ) from None
    if image is None or isinstance(image, (bool, int, float, bytes)):
        raise DatasetError(f"{where} is {type(image).__name__}, not an image; give a path, a PIL image or an array")
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise DatasetError(f"{where} has shape {array.shape}; give one HxW, HxWx1, HxWx3 or HxWx4 image")
    return Image.fromarray(to_uint8(array, where))


@dataclass(frozen=True)
class ImageTransform:
    """One image -> float32 (size, size, channels) array, normalised as `config` says."""

    config: DataConfig
    train: bool = False
    seed: int = 0
    _rng: np.random.Generator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.config.interpolation not in INTERPOLATIONS:
            raise SpecError(
                f"data config interpolation {self.config.interpolation!r} is unknown; use one of {sorted(INTERPOLATIONS)}"
            )
        if not 0 < self.config.crop_pct <= 1:
            raise SpecError(f"data config crop_pct={self.config.crop_pct} must be in (0, 1]")
        object.__setattr__(self, "_rng", np.random.default_rng(self.seed))  # train crops differ call to call

    def _mode(self) -> str:
        order = self.config.channel_order
        if order in PIL_MODES:
            return PIL_MODES[order]
        raise SpecError(f"channel_order {order!r} has no image mode; feed arrays of {len(order)} channels directly")

    def _resize_crop(self, image: Image.Image, rng: np.random.Generator | None) -> Image.Image:
        size, resample = self.config.input_size, INTERPOLATIONS[self.config.interpolation]
        width, height = image.size
        if rng is not None:  # random resized crop: 8%..100% of the area, aspect 3/4..4/3
            for _ in range(10):
                area = width * height * rng.uniform(0.08, 1.0)
                aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
                w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
                if 0 < w <= width and 0 < h <= height:
                    left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
                    return image.resize((size, size), resample, box=(left, top, left + w, top + h))
        scaled = size / self.config.crop_pct
        short = min(width, height)
        new_w, new_h = max(size, round(width * scaled / short)), max(size, round(height * scaled / short))
        image = image.resize((new_w, new_h), resample)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        return image.crop((left, top, left + size, top + size))

    def __call__(self, image: Any, *, rng: np.random.Generator | None = None) -> np.ndarray:
        image = to_pil(image).convert(self._mode())
        if self.train:
            rng = rng or self._rng
            image = self._resize_crop(image, rng)
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        else:
            image = self._resize_crop(image, None)
        x = np.asarray(image, np.float32) / 255.0
        if x.ndim == 2:
            x = x[..., None]
        if self.config.channel_order == "BGR":
            x = x[..., ::-1]
        mean, std = np.asarray(self.config.mean, np.float32), np.asarray(self.config.std, np.float32)
        return ((x - mean) / std).astype(np.float32)

    def batch(self, images: Any) -> np.ndarray:
        """Several images -> one NHWC batch."""
        return np.stack([self(image) for image in images])


def create_transform(config: DataConfig, *, train: bool = False, seed: int = 0) -> ImageTransform:
    """The preprocessing a model expects, from zoo.data_config(model) (timm: create_transform)."""
    if not isinstance(config, DataConfig):
        raise SpecError(
            f"create_transform needs a zoo.DataConfig (zoo.data_config(model)), got {type(config).__name__}"
        )
    return ImageTransform(config, train=train, seed=seed)
