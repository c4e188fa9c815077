"""Fitting pretrained weights to a model that differs in classes or input channels.

A different `num_classes` keeps the model's freshly initialised head (and says so); a
different `in_channels` adapts the stem's kernels the way timm does: summed over the input
channels for one channel, otherwise repeated and rescaled so activations keep their size.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
from flax import nnx

from zoo.weights.state_file import state_arrays

HEAD_PREFIX = "head."
STEM_PREFIX = "stem."


class PretrainedAdaptationWarning(UserWarning):
    """Pretrained weights were changed to fit the model: a new head or an adapted stem."""


def adapt_input_kernel(kernel: np.ndarray, in_channels: int) -> np.ndarray:
    """An HWIO kernel made for kernel.shape[2] input channels, adapted to `in_channels`."""
    source = kernel.shape[2]
    if in_channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    repeats = math.ceil(in_channels / source)
    tiled = np.concatenate([kernel] * repeats, axis=2)[:, :, :in_channels, :]
    return (tiled * (source / in_channels)).astype(kernel.dtype)


def adapt_arrays(
    arrays: Mapping[str, np.ndarray], model: nnx.Module, *, where: str, reinit_head: bool, adapt_stem: bool
) -> dict[str, np.ndarray]:
    """`arrays` with the head and/or stem made to fit `model`; every other key is left as it is."""
    current = state_arrays(model)
    out = dict(arrays)
    head = [k for k in current if k.startswith(HEAD_PREFIX)]
    if reinit_head and not head:  # num_classes=0: the model has no classifier, so the file's is left out
        out = {k: v for k, v in out.items() if not k.startswith(HEAD_PREFIX)}
    if reinit_head and any(k in out and out[k].shape != current[k].shape for k in head):
        before = next((out[k].shape for k in head if k in out and out[k].shape != current[k].shape), None)
        for key in head:
            out[key] = current[key]
        warnings.warn(
            f"weights from {where}: the head was trained for a different number of classes "
            f"({HEAD_PREFIX}* {list(before or ())} vs the model's); it is freshly initialised, train it before use",
            PretrainedAdaptationWarning,
            stacklevel=3,
        )
    for key, value in current.items():
        if not adapt_stem or not key.startswith(STEM_PREFIX) or key not in out:
            continue
        theirs = out[key]
        if (
            theirs.ndim == 4
            and theirs.shape != value.shape
            and (theirs.shape[:2], theirs.shape[3]) == (value.shape[:2], value.shape[3])
        ):
            out[key] = adapt_input_kernel(theirs, value.shape[2])
            warnings.warn(
                f"weights from {where}: {key} adapted from {theirs.shape[2]} to {value.shape[2]} input channels",
                PretrainedAdaptationWarning,
                stacklevel=3,
            )
    return out
