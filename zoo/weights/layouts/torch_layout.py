"""PyTorch tensor layouts -> ours: OIHW conv kernels to HWIO, (out, in) linear weights to (in, out),
and the one pop-and-refuse engine that converts a PyTorch RegNet (timm's, transformers') given
where that library keeps each tensor."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from zoo.errors import WeightsFormatError
from zoo.plugins.layout_records import LayoutContext

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


@dataclass(frozen=True)
class TorchRegNet:
    """Where one PyTorch library keeps a RegNet's tensors: the data `regnet_to_zoo` converts by.

    `block` matches a block's tensors (groups: stage, block); `names(s, b)` gives (theirs, ours)
    prefixes; `convs(theirs, rest)` the (conv, bn) prefixes of the block's three convolutions;
    `proj` the (conv, bn) suffixes of the projection; the hints finish the refusals."""

    library: str
    stem: tuple[str, str]
    head: str
    block: re.Pattern[str]
    names: Callable[[int, int], tuple[str, str]]
    convs: Callable[[str, Mapping[str, np.ndarray]], list[tuple[str, str]]]
    proj: tuple[str, str]
    missing_hint: str
    unknown_hint: str


def regnet_to_zoo(rest: dict[str, np.ndarray], layout: TorchRegNet, context: LayoutContext) -> dict[str, np.ndarray]:
    """Pop every tensor of a PyTorch RegNet state dict into our flat keys, refusing any it leaves:
    the stem, each block's three convolutions and BNs, the parts plugins add to a block, the
    projection, the classifier."""
    out: dict[str, np.ndarray] = {}
    try:
        put_conv(out, "stem.conv", rest, layout.stem[0])
        put_bn(out, "stem.bn", rest, layout.stem[1])
        for s, b in sorted({(int(m[1]), int(m[2])) for k in rest if (m := layout.block.match(k))}):
            theirs, ours = layout.names(s, b)
            for i, (conv, bn) in enumerate(layout.convs(theirs, rest), start=1):
                put_conv(out, f"{ours}.conv{i}", rest, conv)
                put_bn(out, f"{ours}.bn{i}", rest, bn)
            for part in context.parts:
                part.map_block(out, rest, theirs, ours)
            conv, bn = (f"{theirs}.{suffix}" for suffix in layout.proj)
            if f"{conv}.weight" in rest:
                put_conv(out, f"{ours}.proj_conv", rest, conv)
                put_bn(out, f"{ours}.proj_bn", rest, bn)
        put_linear(out, "head.fc", rest, layout.head)
    except KeyError as err:
        raise WeightsFormatError(f"{layout.library} RegNet weights lack tensor {err}; {layout.missing_hint}") from None
    if rest:
        raise WeightsFormatError(
            f"{layout.library} RegNet weights hold tensors this converter does not know: {sorted(rest)[:8]}; "
            f"{layout.unknown_hint}"
        )
    return out
