"""An inverted-residual block (MobileNetV2's) for anynet-zoo, and the model `my_net` using it."""

from pathlib import Path

import jax
from flax import nnx

from zoo import plugin_kit as kit


class InvertedResidual(nnx.Module):
    """1x1 expand -> 3x3 grouped conv (carrying the stride) -> 1x1 linear projection, plus skip.

    The AnyNet stage fields map onto it: bottleneck_ratio is the expansion (inner = out * ratio)
    and group_width the channels per group of the 3x3 conv (1 = depthwise).
    """

    def __init__(self, in_channels, out_channels, stride, group_width, bottleneck_ratio, options, *, rngs):
        inner = round(out_channels * bottleneck_ratio)
        self.expand = kit.conv(in_channels, inner, 1, rngs=rngs)
        self.bn1 = kit.batch_norm(inner, options, rngs=rngs)
        self.spatial = kit.conv(inner, inner, 3, stride=stride, groups=inner // group_width, rngs=rngs)
        self.bn2 = kit.batch_norm(inner, options, rngs=rngs)
        self.project = kit.conv(inner, out_channels, 1, rngs=rngs)
        self.bn3 = kit.batch_norm(out_channels, options, rngs=rngs)
        self.residual = in_channels == out_channels and stride == 1

    def __call__(self, x: jax.Array) -> jax.Array:
        y = nnx.relu6(self.bn1(self.expand(x)))
        y = nnx.relu6(self.bn2(self.spatial(y)))
        y = self.bn3(self.project(y))
        return x + y if self.residual else y


def inverted_residual_cost(cost, in_channels, out_channels, stride, group_width, bottleneck_ratio, options):
    """The block's params, flops and activations, counted layer by layer as the block builds them."""
    inner = round(out_channels * bottleneck_ratio)
    cost = cost.conv(in_channels, inner, 1).norm(inner)
    cost = cost.conv(inner, inner, 3, stride=stride, groups=inner // group_width).norm(inner)
    return cost.conv(inner, out_channels, 1).norm(out_channels)


@kit.hookimpl
def zoo_add_blocks():
    return [kit.Block("inverted_residual", InvertedResidual, inverted_residual_cost, "MobileNetV2 block")]


@kit.hookimpl
def zoo_add_models():
    return Path(__file__).with_name("models.toml")
