"""Small building layers shared by the built-in components and offered to plugins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from zoo.nn.conv_lowering import conv_general_dilated

# He (Kaiming) normal over fan-out, as pycls and torchvision initialise convolutions.
conv_init = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")


def bn_settings(options: Mapping[str, Any]) -> dict[str, float]:
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
