"""PyTorch tensor layouts -> ours: OIHW conv kernels to HWIO, (out, in) linear weights to (in, out)."""

from __future__ import annotations

import numpy as np

BN_NAMES = {"weight": "scale", "bias": "bias", "running_mean": "mean", "running_var": "var"}


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 1, 0)))


def linear_kernel(weight: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(weight.T)


def put_conv(out: dict, ours: str, arrays: dict, theirs: str, *, bias: bool = False) -> None:
    out[f"{ours}.kernel"] = conv_kernel(arrays.pop(f"{theirs}.weight"))
    if bias or f"{theirs}.bias" in arrays:
        out[f"{ours}.bias"] = arrays.pop(f"{theirs}.bias")


def put_bn(out: dict, ours: str, arrays: dict, theirs: str) -> None:
    for torch_name, our_name in BN_NAMES.items():
        out[f"{ours}.{our_name}"] = arrays.pop(f"{theirs}.{torch_name}")
    arrays.pop(f"{theirs}.num_batches_tracked", None)


def put_linear(out: dict, ours: str, arrays: dict, theirs: str) -> None:
    out[f"{ours}.kernel"] = linear_kernel(arrays.pop(f"{theirs}.weight"))
    out[f"{ours}.bias"] = arrays.pop(f"{theirs}.bias")
