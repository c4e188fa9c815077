"""The ResNet stem: a 7x7 stride-2 conv, BN, ReLU, then a 3x3 stride-2 max-pool (4x down)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
from flax import nnx

from zoo import plugin_kit as kit


class ResNetStem(nnx.Module):
    """conv 7x7/2 (padding 3) -> BN -> ReLU -> max-pool 3x3/2 (padding 1), as torchvision and pycls."""

    def __init__(self, in_channels: int, out_channels: int, options: Mapping[str, Any], *, rngs: nnx.Rngs):
        bias = kit.conv_bias(options)
        self.conv = kit.conv(in_channels, out_channels, 7, stride=2, bias=bias, rngs=rngs)
        self.bn = kit.batch_norm(out_channels, options, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.bn(self.conv(x)))
        return nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


def resnet_stem_cost(cost: kit.Cost, in_channels: int, out_channels: int, options: Mapping[str, Any]) -> kit.Cost:
    bias = kit.conv_bias(options)
    cost = cost.conv(in_channels, out_channels, 7, stride=2, bias=bias).norm(out_channels)
    return cost.pool(out_channels, 3, stride=2)
