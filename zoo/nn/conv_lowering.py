"""Fast CPU lowerings of the convolutions this model family is made of.

XLA's CPU lowering of grouped convolution (`feature_group_count > 1`) runs at a small
fraction of a dense convolution's speed, and its backward pass slower still; a 1x1
convolution runs slower than the matrix product it is. The lowerings here compute the same
functions from faster primitives with the kernel layout unchanged (HWIO, I = in/groups), so
parameters, weight files and results stay the same; only speed differs (bench/NOTES.md).

    fast       grouped: one dense conv per group on its channel slice, concatenated;
               1x1: a strided slice and a matrix product (default)
    blockdiag  grouped: one dense conv with a block-diagonal kernel; 1x1 as in fast
    xla        lax.conv_general_dilated as XLA lowers it (the fallback)

Choose with `set_conv_lowering(name)`, the `conv_lowering(name)` context manager, or the
ZOO_CONV_LOWERING environment variable. The choice is read when a function is traced, so a
jitted function keeps the lowering it was traced with.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import jax.numpy as jnp
from jax import lax

from zoo.errors import ZooError

LOWERINGS = ("fast", "blockdiag", "xla")
_choice: str | None = None


def current() -> str:
    choice = _choice or os.environ.get("ZOO_CONV_LOWERING", "fast")
    if choice not in LOWERINGS:
        raise ZooError(f"ZOO_CONV_LOWERING={choice!r} is not a conv lowering; choose one of {LOWERINGS}")
    return choice


def set_conv_lowering(name: str | None) -> None:
    """Pick the lowering for functions traced from now on (None: back to the env var / default)."""
    global _choice
    if name is not None and name not in LOWERINGS:
        raise ZooError(f"{name!r} is not a conv lowering; choose one of {LOWERINGS}")
    _choice = name


@contextlib.contextmanager
def conv_lowering(name: str) -> Iterator[None]:
    """Use lowering `name` for functions traced inside the block."""
    global _choice
    previous = _choice
    set_conv_lowering(name)
    try:
        yield
    finally:
        _choice = previous


def _is_nhwc_hwio(dimension_numbers) -> bool:
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return tuple(dimension_numbers) == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    return dimension_numbers is not None and tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")


def _trivial(dilation) -> bool:
    return dilation is None or all(d == 1 for d in dilation)


def conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
    **extra,
):
    """Drop-in for lax.conv_general_dilated; NHWC/HWIO convs take the chosen lowering.

    `extra` (flax passes out_sharding) goes through to lax where it is set.
    """
    extra = {k: v for k, v in extra.items() if v is not None}

    def xla(lhs, rhs, groups=feature_group_count):
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation,
            dimension_numbers=dimension_numbers,
            feature_group_count=groups,
            batch_group_count=batch_group_count,
            precision=precision,
            preferred_element_type=preferred_element_type,
            **extra,
        )

    choice = current()
    plain = (
        batch_group_count == 1
        and _is_nhwc_hwio(dimension_numbers)
        and _trivial(lhs_dilation)
        and _trivial(rhs_dilation)
        and not extra
    )
    if choice == "xla" or not plain:
        return xla(lhs, rhs)
    kh, kw, in_per_group, out_channels = rhs.shape
    groups = feature_group_count
    if (kh, kw) == (1, 1) and groups == 1 and not isinstance(padding, str) and all(p == (0, 0) for p in padding):
        sh, sw = window_strides
        x = lhs[:, ::sh, ::sw, :] if (sh, sw) != (1, 1) else lhs
        return lax.dot_general(
            x, rhs[0, 0], (((3,), (0,)), ((), ())), precision=precision, preferred_element_type=preferred_element_type
        )
    if groups == 1:
        return xla(lhs, rhs)
    out_per_group = out_channels // groups
    if choice == "blockdiag":
        blocks = rhs.reshape(kh, kw, in_per_group, groups, out_per_group)
        eye = jnp.eye(groups, dtype=rhs.dtype)
        dense = jnp.einsum("hwcgo,fg->hwfcgo", blocks, eye).reshape(kh, kw, groups * in_per_group, out_channels)
        return xla(lhs, dense, groups=1)
    outputs = [
        xla(
            lhs[..., g * in_per_group : (g + 1) * in_per_group],
            rhs[..., g * out_per_group : (g + 1) * out_per_group],
            1,
        )
        for g in range(groups)
    ]
    return jnp.concatenate(outputs, axis=-1)
