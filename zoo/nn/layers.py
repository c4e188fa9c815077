"""Small building layers shared by the built-in components and offered to plugins."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

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


class BatchNorm(nnx.BatchNorm):
    """flax's BatchNorm (same variables, same statistics), with the ReLU that follows it optional, and
    in float32 training one custom-VJP op: the statistics in one pass, normalise (+ReLU) in one pass,
    the backward in one pass, where autodiff of the composition makes several (bench/NOTES.md 16).
    Anything else (eval mode, half precision, a mask, a named axis) is flax's own path."""

    fuse: ClassVar[bool] = True  # False: flax's path everywhere (bench/bn_fusion.py times both)

    def __call__(self, x: jax.Array, *, relu: bool = False, **kwargs: Any) -> jax.Array:  # type: ignore[override]
        if kwargs or not self.fuse or not self._fusable(x) or self.scale is None or self.bias is None:
            y = super().__call__(x, **kwargs)
            return nnx.relu(y) if relu else y
        y, mean, var = _bn_train(x, self.scale[...], self.bias[...], self.epsilon, relu)
        self.mean[...] = jax.lax.stop_gradient(self.momentum * self.mean[...] + (1 - self.momentum) * mean)
        self.var[...] = jax.lax.stop_gradient(self.momentum * self.var[...] + (1 - self.momentum) * var)
        return y

    def _fusable(self, x: jax.Array) -> bool:
        return (
            self.use_running_average is False
            and x.dtype == jnp.float32
            and self.dtype in (None, jnp.float32)
            and self.axis in (-1, x.ndim - 1)
            and self.axis_name is None
            and self.use_fast_variance
        )


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _bn_train(x, scale, bias, epsilon: float, relu: bool):
    """Train-mode BN (+ReLU) over all axes but the last: (y, batch mean, batch variance).

    The statistics feed only the running averages (under stop_gradient), so the backward treats
    them as constants: it differentiates y alone.
    """
    return _bn_train_fwd(x, scale, bias, epsilon, relu)[0]


def _bn_train_fwd(x, scale, bias, epsilon: float, relu: bool):
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axes)
    var = jnp.maximum(0.0, jnp.square(x).mean(axes) - jnp.square(mean))  # flax's fast variance
    inv = jax.lax.rsqrt(var + epsilon)
    y = (x - mean) * (inv * scale) + bias
    if relu:
        y = jnp.maximum(y, 0.0)
    return (y, mean, var), (x, mean, inv, scale, y)


def _bn_train_bwd(epsilon: float, relu: bool, residuals, cotangents):
    x, mean, inv, scale, y = residuals
    dy = cotangents[0]
    if relu:
        dy = jnp.where(y > 0, dy, 0.0)
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    xhat = (x - mean) * inv
    dbias = dy.sum(axes)
    dscale = (dy * xhat).sum(axes)
    dx = (scale * inv / n) * (n * dy - dbias - xhat * dscale)
    return dx, dscale, dbias


_bn_train.defvjp(_bn_train_fwd, _bn_train_bwd)


def batch_norm(channels: int, options: Mapping[str, Any], *, rngs: nnx.Rngs, zero_init: bool = False) -> BatchNorm:
    scale_init = nnx.initializers.zeros if zero_init else nnx.initializers.ones
    return BatchNorm(channels, scale_init=scale_init, rngs=rngs, **bn_settings(options))


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
