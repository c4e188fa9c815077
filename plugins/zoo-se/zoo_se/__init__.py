"""zoo-se: the squeeze-and-excitation ResNeXt block (`se_resnext`) that RegNetY uses.

The SE width is `se_ratio` (option, default 0.25) of the block's input width, as in the
paper's reference implementation. Registers through the `zoo.plugins` entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from zoo import plugin_kit as kit


class SqueezeExcite(nnx.Module):
    """Channel gating: global pool -> 1x1 reduce -> ReLU -> 1x1 expand -> sigmoid -> scale."""

    def __init__(self, channels: int, se_channels: int, *, rngs: nnx.Rngs):
        self.reduce = kit.conv(channels, se_channels, 1, bias=True, rngs=rngs)
        self.expand = kit.conv(se_channels, channels, 1, bias=True, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        s = jnp.mean(x, axis=(1, 2), keepdims=True)
        s = nnx.relu(self.reduce(s))
        return x * nnx.sigmoid(self.expand(s))


def se_width(in_channels: int, options: Mapping[str, Any]) -> int:
    return int(round(in_channels * float(options.get("se_ratio", 0.25))))


def build_se_resnext(in_channels, out_channels, stride, group_width, bottleneck_ratio, options, *, rngs):
    se_channels = se_width(in_channels, options)

    def attention(channels: int, *, rngs: nnx.Rngs) -> SqueezeExcite:
        return SqueezeExcite(channels, se_channels, rngs=rngs)

    return kit.ResNeXtBlock(
        in_channels, out_channels, stride, group_width, bottleneck_ratio, options, rngs=rngs, attention=attention
    )


def se_resnext_cost(cost, in_channels, out_channels, stride, group_width, bottleneck_ratio, options):
    se_channels = se_width(in_channels, options)

    def attention_cost(cost: kit.Cost, channels: int) -> kit.Cost:
        h, w = cost.h, cost.w
        cost = cost.global_pool().conv(channels, se_channels, 1, bias=True).conv(se_channels, channels, 1, bias=True)
        return cost.at(h, w)

    return kit.resnext_cost(
        cost, in_channels, out_channels, stride, group_width, bottleneck_ratio, options, attention_cost=attention_cost
    )


@kit.hookimpl
def zoo_add_blocks():
    return [
        kit.Block("se_resnext", build_se_resnext, se_resnext_cost, "ResNeXt block with squeeze-excitation (Y block)")
    ]
