"""The ResNet basic block (ResNet-18/34): two 3x3 convs, the first carrying the stride.

It has no bottleneck and no groups, so a stage using it must say group_width = width and
bottleneck_ratio = 1; anything else is refused rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
from flax import nnx

from zoo import plugin_kit as kit
from zoo.errors import SpecError


def _check_plain(out_channels: int, group_width: int, bottleneck_ratio: float) -> None:
    if bottleneck_ratio != 1 or group_width != out_channels:
        raise SpecError(
            f"block 'resnet_basic' (plugin zoo-resnet) has no bottleneck and no groups, but a stage of width "
            f"{out_channels} asks for group_width {group_width} and bottleneck_ratio {bottleneck_ratio}; "
            f"set group_width = {out_channels} and bottleneck_ratio = 1.0, or use block 'resnet_bottleneck'"
        )


class BasicBlock(kit.Residual):
    """3x3 (stride) -> BN -> ReLU -> 3x3 -> BN, on the zoo's residual block (its projected skip)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        group_width: int,
        bottleneck_ratio: float,
        options: Mapping[str, Any],
        *,
        rngs: nnx.Rngs,
    ):
        _check_plain(out_channels, group_width, bottleneck_ratio)
        bias = kit.conv_bias(options)
        self.conv1 = kit.conv(in_channels, out_channels, 3, stride=stride, bias=bias, rngs=rngs)
        self.bn1 = kit.batch_norm(out_channels, options, rngs=rngs)
        self.conv2 = kit.conv(out_channels, out_channels, 3, bias=bias, rngs=rngs)
        self.bn2 = kit.batch_norm(
            out_channels, options, rngs=rngs, zero_init=bool(options.get("zero_init_last_bn", False))
        )
        self.init_skip(in_channels, out_channels, stride, options, rngs=rngs)

    def branch(self, x: jax.Array) -> jax.Array:
        return self.bn2(self.conv2(nnx.relu(self.bn1(self.conv1(x)))))


def basic_block_cost(
    cost: kit.Cost,
    in_channels: int,
    out_channels: int,
    stride: int,
    group_width: int,
    bottleneck_ratio: float,
    options: Mapping[str, Any],
) -> kit.Cost:
    _check_plain(out_channels, group_width, bottleneck_ratio)
    bias = kit.conv_bias(options)
    cost = kit.projection_cost(cost, in_channels, out_channels, stride, options)
    cost = cost.conv(in_channels, out_channels, 3, stride=stride, bias=bias).norm(out_channels)
    return cost.conv(out_channels, out_channels, 3, bias=bias).norm(out_channels)
