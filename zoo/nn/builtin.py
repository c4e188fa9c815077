"""The zoo's own components: the `simple` stem, `resnext` block and `classifier` head.

Each module sits beside the function that counts its cost; zoo.plugins.builtin registers
them through the same hooks as any plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import jax
from flax import nnx

from zoo.cost import Cost
from zoo.nn import drop as drop_layers
from zoo.nn.init import normal
from zoo.nn.layers import batch_norm, conv, conv_bias, global_avg_pool, projection, projection_cost
from zoo.spec import bottleneck_width


# -- stem ------------------------------------------------------------------------------
class SimpleStem(nnx.Module):
    """One 3x3 convolution, BN, ReLU. At stride 2 (`simple`) it halves the resolution; at stride 1
    (`cifar`, pycls's CIFAR stem) it keeps small inputs' resolution, so four stride-2 stages still
    see maps larger than 1x1."""

    stride: ClassVar[int] = 2

    def __init__(self, in_channels: int, out_channels: int, options: Mapping[str, Any], *, rngs: nnx.Rngs):
        self.conv = conv(in_channels, out_channels, 3, stride=self.stride, bias=conv_bias(options), rngs=rngs)
        self.bn = batch_norm(out_channels, options, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return nnx.relu(self.bn(self.conv(x)))


class CifarStem(SimpleStem):
    """SimpleStem at stride 1."""

    stride: ClassVar[int] = 1


def simple_stem_cost(
    cost: Cost, in_channels: int, out_channels: int, options: Mapping[str, Any], *, stride: int = SimpleStem.stride
) -> Cost:
    return cost.conv(in_channels, out_channels, 3, stride=stride, bias=conv_bias(options)).norm(out_channels)


def cifar_stem_cost(cost: Cost, in_channels: int, out_channels: int, options: Mapping[str, Any]) -> Cost:
    return simple_stem_cost(cost, in_channels, out_channels, options, stride=CifarStem.stride)


# -- block -----------------------------------------------------------------------------
class Residual(nnx.Module):
    """A residual block: relu(drop_path(branch(x)) + skip(x)), the skip an identity or, where the
    shape changes, a projection (1x1 conv carrying the stride, BN). Subclasses build their layers,
    then call `init_skip` (last, so parameters draw in the same order as before), and define `branch`.
    `init_skip` also adds the block's stochastic depth when its options ask for it (zoo.nn.drop)."""

    proj_conv: Any
    proj_bn: Any
    drop_path: nnx.Dropout | None = None

    def init_skip(
        self, in_channels: int, out_channels: int, stride: int, options: Mapping[str, Any], *, rngs: nnx.Rngs
    ) -> None:
        self.proj_conv, self.proj_bn = projection(in_channels, out_channels, stride, options, rngs=rngs)
        dropped = drop_layers.drop_path(options, rngs=rngs)
        if dropped is not None:  # at rate 0 the block holds exactly what it always did
            self.drop_path = dropped

    def branch(self, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def __call__(self, x: jax.Array) -> jax.Array:
        skip = x if self.proj_conv is None or self.proj_bn is None else self.proj_bn(self.proj_conv(x))
        y = self.branch(x)
        if self.drop_path is not None:
            y = self.drop_path(y)
        return nnx.relu(y + skip)


class ResNeXtBlock(Residual):
    """1x1 -> grouped 3x3 (carrying the stride) -> 1x1, with a projected skip where shape changes.

    `attention(channels, rngs=...)`, when given, builds a module applied after the grouped
    conv (a squeeze-excitation, say): how plugins extend this block without copying it.
    """

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
        attention: Callable[..., nnx.Module] | None = None,
    ):
        inner = bottleneck_width(out_channels, bottleneck_ratio)
        bias = conv_bias(options)
        self.conv1 = conv(in_channels, inner, 1, bias=bias, rngs=rngs)
        self.bn1 = batch_norm(inner, options, rngs=rngs)
        self.conv2 = conv(inner, inner, 3, stride=stride, groups=inner // group_width, bias=bias, rngs=rngs)
        self.bn2 = batch_norm(inner, options, rngs=rngs)
        self.attention = attention(inner, rngs=rngs) if attention else None
        self.conv3 = conv(inner, out_channels, 1, bias=bias, rngs=rngs)
        self.bn3 = batch_norm(out_channels, options, rngs=rngs, zero_init=bool(options.get("zero_init_last_bn", False)))
        self.init_skip(in_channels, out_channels, stride, options, rngs=rngs)

    def branch(self, x: jax.Array) -> jax.Array:
        y = nnx.relu(self.bn1(self.conv1(x)))
        y = nnx.relu(self.bn2(self.conv2(y)))
        if self.attention is not None:
            y = self.attention(y)
        return self.bn3(self.conv3(y))


def resnext_cost(
    cost: Cost,
    in_channels: int,
    out_channels: int,
    stride: int,
    group_width: int,
    bottleneck_ratio: float,
    options: Mapping[str, Any],
    *,
    attention_cost: Callable[[Cost, int], Cost] | None = None,
) -> Cost:
    inner = bottleneck_width(out_channels, bottleneck_ratio)
    bias = conv_bias(options)
    cost = projection_cost(cost, in_channels, out_channels, stride, options)
    cost = cost.conv(in_channels, inner, 1, bias=bias).norm(inner)
    cost = cost.conv(inner, inner, 3, stride=stride, groups=inner // group_width, bias=bias).norm(inner)
    if attention_cost is not None:
        cost = attention_cost(cost, inner)
    return cost.conv(inner, out_channels, 1, bias=bias).norm(out_channels)


# -- head ------------------------------------------------------------------------------
class ClassifierHead(nnx.Module):
    """Global average pool (+ dropout at the `drop_rate` option, in train mode) + linear classifier."""

    drop: nnx.Dropout | None = None

    def __init__(self, in_channels: int, num_classes: int, options: Mapping[str, Any], *, rngs: nnx.Rngs):
        self.fc = nnx.Linear(in_channels, num_classes, kernel_init=normal(0.01), rngs=rngs)
        dropped = drop_layers.dropout(options, rngs=rngs)
        if dropped is not None:
            self.drop = dropped

    def __call__(self, x: jax.Array) -> jax.Array:
        x = global_avg_pool(x)
        if self.drop is not None:
            x = self.drop(x)
        return self.fc(x)


def classifier_cost(cost: Cost, in_channels: int, num_classes: int, options: Mapping[str, Any]) -> Cost:
    return cost.global_pool().linear(in_channels, num_classes, bias=True)
