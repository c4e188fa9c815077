"""The one rule for turning pixel values of any type into 8-bit ones (docs/usage.md, "Pixel values").

Arrays carry no colour depth, so the dtype decides, and anything the dtype cannot decide is
refused rather than guessed: uint8 is 0..255; uint16 (and 16-bit PNGs) is 0..65535, divided by
257; other integer types must hold 0..255; floats must be finite and in [0, 1]. A float image
in 0..255 is refused, not clipped to white, because its scale cannot be told from a dark
[0, 1] image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.errors import DatasetError

FLOAT_SLACK = 1e-6  # a [0, 1] image that rounding pushed just past 1.0 is still [0, 1]


def to_uint8(array: np.ndarray, where: str = "image") -> np.ndarray:
    """`array`'s values as uint8 by the rule above; DatasetError naming `where` when they do not fit it."""
    if array.size == 0:
        raise DatasetError(f"{where} has shape {array.shape}: no pixels; give an image of at least 1x1")
    kind, dtype = array.dtype.kind, array.dtype
    if dtype == np.uint8:
        return array
    if kind == "f":
        if not np.all(np.isfinite(array)):
            raise DatasetError(f"{where} holds NaN or infinite values; give finite pixel values")
        lo, hi = float(array.min()), float(array.max())
        if lo < -FLOAT_SLACK or hi > 1 + FLOAT_SLACK:
            raise DatasetError(
                f"{where} is a {dtype} image with values in [{lo:g}, {hi:g}]; float images must be in [0, 1]: "
                "divide 0..255 values by 255 (or pass them as uint8)"
            )
        return np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.rint(array.astype(np.float64) / 257.0).astype(np.uint8)
    if kind in "iu":
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise DatasetError(
                f"{where} is a {dtype} image with values in [{lo}, {hi}]; integer images other than uint16 must "
                "hold 0..255 (8-bit) values: convert 16-bit data to uint16, other ranges to [0, 1] floats"
            )
        return array.astype(np.uint8)
    raise DatasetError(
        f"{where} has dtype {dtype}; give uint8 (0..255), uint16 (0..65535) or float ([0, 1]) pixel values"
    )


# PIL modes whose values are not 8-bit: converting them with PIL would clip (a 16-bit PNG turns white).
WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def eight_bit(image: Any, where: str) -> Any:
    """A PIL image itself, or for 16-bit / 32-bit / float modes an 8-bit one scaled by the rule above."""
    from PIL import Image

    if image.mode not in WIDE_MODES:
        return image
    array = np.asarray(image)
    if image.mode.startswith("I;16"):
        array = array.astype(np.uint16)
    return Image.fromarray(to_uint8(array, where))
