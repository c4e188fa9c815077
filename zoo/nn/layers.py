"""Small building layers shared by the built-in components and offered to plugins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from zoo.nn.conv_lowering import conv_general_dilated
from zoo.nn.init import he_normal_fan_out

# He (Kaiming) normal over fan-out, as pycls and torchvision initialise convolutions; compiled
# once for all shapes (zoo.nn.init).
conv_init = he_normal_fan_out


def bn_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """BatchNorm momentum and epsilon from a spec's options (PyTorch's defaults otherwise)."""
    return {
        "momentum": float(options.get("bn_momentum", 0.9)),
        "epsilon": float(options.get("bn_eps", 1e-5)),
    }


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    groups: int = 1,
    bias: bool = False,
    rngs: nnx.Rngs,
) -> nnx.Conv:
    """A k x k convolution padded by k // 2 on each side, as PyTorch/pycls pad.

    Convolutions go through zoo.nn.conv_lowering (fast CPU lowerings).
    """
    pad = kernel_size // 2
    return nnx.Conv(
        in_channels,
        out_channels,
        (kernel_size, kernel_size),
        strides=stride,
        padding=((pad, pad), (pad, pad)),
        feature_group_count=groups,
        use_bias=bias,
        kernel_init=conv_init,
        conv_general_dilated=conv_general_dilated,
        rngs=rngs,
    )


def batch_norm(channels: int, options: Mapping[str, Any], *, rngs: nnx.Rngs, zero_init: bool = False) -> nnx.BatchNorm:
    scale_init = nnx.initializers.zeros if zero_init else nnx.initializers.ones
    return nnx.BatchNorm(channels, scale_init=scale_init, rngs=rngs, **bn_settings(options))


def global_avg_pool(x: jax.Array) -> jax.Array:
    return jnp.mean(x, axis=(1, 2))


def conv_bias(options: Mapping[str, Any]) -> bool:
    """Whether convolutions carry a bias (the `conv_bias` option; the seed's convs do)."""
    return bool(options.get("conv_bias", False))


def projection(
    in_channels: int, out_channels: int, stride: int, options: Mapping[str, Any], *, rngs: nnx.Rngs
) -> tuple[nnx.Conv | None, nnx.BatchNorm | None]:
    """The strided 1x1 conv + BN a residual block puts on its skip where the shape changes.

    Returns (None, None) where the skip is the identity; blocks keep the two as `proj_conv`
    and `proj_bn`, the names the weight converters map onto.
    """
    if in_channels == out_channels and stride == 1:
        return None, None
    return (
        conv(in_channels, out_channels, 1, stride=stride, bias=conv_bias(options), rngs=rngs),
        batch_norm(out_channels, options, rngs=rngs),
    )


def projection_cost(cost, in_channels: int, out_channels: int, stride: int, options: Mapping[str, Any]):
    """The cost of `projection`, at the block's input size (the skip is a side branch)."""
    if in_channels == out_channels and stride == 1:
        return cost
    projected = cost.conv(in_channels, out_channels, 1, stride=stride, bias=conv_bias(options)).norm(out_channels)
    return projected.at(cost.h, cost.w)
