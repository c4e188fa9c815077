"""Each convolution lowered by its shape and backend: XLA's own conv on GPU/TPU, the fastest
measured form on the CPU.

XLA's CPU lowering of grouped convolution (`feature_group_count > 1`) runs at a small
fraction of a dense convolution's speed (depthwise: under 1 GFLOP/s, its backward slower
still), and a 1x1 convolution runs slower than the matrix product it is. The forms here
compute the same function from faster primitives with the kernel layout unchanged (HWIO,
I = in/groups), so parameters, weight files and results stay the same; only speed differs.

Per-convolution forms (`choose` picks one from the shape and backend):

    xla        lax.conv_general_dilated as XLA lowers it (GPU/TPU, dense kxk convs)
    matmul     1x1: a strided slice and a matrix product
    pergroup   grouped: one dense conv per group on its channel slice, concatenated
    blockdiag  grouped: one dense conv with a block-diagonal kernel (g x the flops)
    taps       grouped, few channels per group: one shifted multiply-add per kernel tap
    phases     strided kxk: a stride-1 conv over the input's stride x stride phases (space to
               depth, a ceil(k/s) kernel of the same taps), per group; chosen only by tuning

`choose` is the CPU rule, a few lines of thresholds measured by bench/conv_shapes.py
(bench/NOTES.md, section 8). ZOO_CONV_LOWERING (or `set_conv_lowering` / the
`conv_lowering` context manager) forces one lowering for every conv instead:

    auto       the per-shape rule (default)
    fast       pergroup for grouped convs, matmul for 1x1 (the rule before it was per shape)
    blockdiag  blockdiag for grouped convs, matmul for 1x1
    taps       taps for grouped convs, matmul for 1x1
    phases     phases for strided kxk convs, else as fast
    xla        XLA's conv everywhere

The choice is read when a function is traced, so a jitted function keeps what it was traced with.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from zoo.errors import ConvLoweringError
from zoo.nn import conv_tuning

LOWERINGS = ("auto", "fast", "blockdiag", "taps", "phases", "xla")
FORMS = ("xla", "matmul", "pergroup", "blockdiag", "taps", "phases")
_FORCED_GROUPED = {"fast": "pergroup", "blockdiag": "blockdiag", "taps": "taps", "phases": "pergroup"}
# Scoped to the thread and async task that sets it (a ContextVar, like spec_limits), so two threads
# tracing with different lowerings never see each other's choice.
_choice: contextvars.ContextVar[str | None] = contextvars.ContextVar("zoo_conv_lowering", default=None)


@dataclass(frozen=True)
class ConvShape:
    """What the rule looks at: one NHWC conv with a square-or-not kernel, zero dilation."""

    batch: int
    height: int
    width: int
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    groups: int

    @property
    def in_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_channels // self.groups


# The CPU rule's thresholds (bench/NOTES.md section 8 has the measurements behind each).
TAPS_MAX_IN_PER_GROUP = 2  # depthwise-like convs: shifted multiply-adds beat every conv form
PERGROUP_MAX_GROUPS = 24  # beyond this, per-group convs cost more compile time than they save
BLOCKDIAG_MAX_GROUPS = 4  # block-diagonal kernels pay g x the flops: only for a few groups


def choose(shape: ConvShape, backend: str | None = None, *, padded: bool = True) -> str:
    """The form (one of FORMS) for a conv of this shape on `backend` (default: jax's default backend).

    `padded` says whether the conv pads its input (a 1x1 matmul needs no padding).
    """
    backend = backend or jax.default_backend()
    if backend != "cpu":
        return "xla"  # cuDNN and the TPU compiler handle grouped and 1x1 convs natively
    if shape.groups == 1:
        return "matmul" if shape.kernel == (1, 1) and not padded else "xla"
    if shape.in_per_group <= TAPS_MAX_IN_PER_GROUP:
        return "taps"
    if shape.groups <= PERGROUP_MAX_GROUPS:
        return "pergroup"
    return "taps"


MAX_TUNED_PERGROUP_GROUPS = 64  # per-group compile grows with groups: above this it takes minutes
MAX_TUNED_BLOCKDIAG_GROUPS = 16  # g x the flops: above this it never wins and is slow to time


def candidates(shape: ConvShape, *, padded: bool = True) -> list[str]:
    """The forms that can compute this conv on the CPU, for tuning to time (one: nothing to tune)."""
    strided = shape.stride != (1, 1) and shape.kernel != (1, 1)
    if shape.groups == 1:
        if shape.kernel == (1, 1) and not padded:
            return ["xla", "matmul"]
        return ["xla", "phases"] if strided else ["xla"]
    forms = ["xla", "taps"]
    if shape.groups <= MAX_TUNED_PERGROUP_GROUPS:
        forms += ["pergroup", "phases"] if strided else ["pergroup"]
    if shape.groups <= MAX_TUNED_BLOCKDIAG_GROUPS:
        forms.append("blockdiag")
    return forms


def current() -> str:
    choice = _choice.get() or os.environ.get("ZOO_CONV_LOWERING", "auto")
    if choice not in LOWERINGS:
        raise ConvLoweringError(f"ZOO_CONV_LOWERING={choice!r} is not a conv lowering; choose one of {LOWERINGS}")
    return choice


def set_conv_lowering(name: str | None) -> None:
    """Pick the lowering for functions traced from now on (None: back to the env var / default)."""
    if name is not None and name not in LOWERINGS:
        raise ConvLoweringError(f"{name!r} is not a conv lowering; choose one of {LOWERINGS}")
    _choice.set(name)


@contextlib.contextmanager
def conv_lowering(name: str) -> Iterator[None]:
    """Use lowering `name` for functions traced inside the block."""
    if name not in LOWERINGS:
        raise ConvLoweringError(f"{name!r} is not a conv lowering; choose one of {LOWERINGS}")
    token = _choice.set(name)
    try:
        yield
    finally:
        _choice.reset(token)


def _is_nhwc_hwio(dimension_numbers) -> bool:
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return tuple(dimension_numbers) == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    return dimension_numbers is not None and tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")


def _trivial(dilation) -> bool:
    return dilation is None or all(d == 1 for d in dilation)


def _form(lowering: str, shape: ConvShape, padded: bool) -> str:
    if lowering == "auto":
        return choose(shape, padded=padded)
    if lowering == "xla":
        return "xla"
    if lowering == "phases" and shape.stride != (1, 1) and shape.kernel != (1, 1):
        return "phases"
    if shape.groups == 1:
        return "matmul" if shape.kernel == (1, 1) and not padded else "xla"
    return _FORCED_GROUPED[lowering]


def _taps(lhs, rhs, strides, padding, groups, precision):
    """Shifted (strided) input slices, one per kernel tap, times that tap's weights.

    One channel per group: a multiply-add per tap (elementwise, no conv at all). More: the
    taps are stacked into patches and contracted per group in one batched matrix product.
    """
    kh, kw, cin, out_channels = rhs.shape
    opg = out_channels // groups
    sh, sw = strides
    x = jnp.pad(lhs, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
    n, hp, wp, _ = x.shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    x = x.reshape(n, hp, wp, groups, cin)
    w = rhs.reshape(kh, kw, cin, groups, opg)
    taps = [
        lax.slice(x, (0, i, j, 0, 0), (n, i + sh * (ho - 1) + 1, j + sw * (wo - 1) + 1, groups, cin), (1, sh, sw, 1, 1))
        for i in range(kh)
        for j in range(kw)
    ]
    if cin == 1:
        out = None
        for t, tap in enumerate(taps):
            term = tap * w[t // kw, t % kw, 0][None, None, None]  # (n,ho,wo,g,1) * (g,opg)
            out = term if out is None else out + term
    else:
        patches = jnp.concatenate(taps, axis=-1)  # (n, ho, wo, g, taps * cin)
        out = jnp.einsum("nhwgk,kgo->nhwgo", patches, w.reshape(kh * kw * cin, groups, opg), precision=precision)
    return out.reshape(n, ho, wo, out_channels)


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
    """Drop-in for lax.conv_general_dilated; NHWC/HWIO convs take the form chosen for their shape.

    `extra` (flax passes out_sharding) goes through to lax where it is set.
    """
    extra = {k: v for k, v in extra.items() if v is not None}

    def xla(lhs, rhs, groups=feature_group_count, strides=window_strides, padding=padding):
        return lax.conv_general_dilated(
            lhs,
            rhs,
            strides,
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

    lowering = current()
    plain = (
        batch_group_count == 1
        and _is_nhwc_hwio(dimension_numbers)
        and _trivial(lhs_dilation)
        and _trivial(rhs_dilation)
        and not isinstance(padding, str)
        and preferred_element_type is None
        and not extra
    )
    if lowering == "xla" or not plain:
        return xla(lhs, rhs)
    kh, kw, in_per_group, out_channels = rhs.shape
    groups = feature_group_count
    n, h, w, c = lhs.shape
    padded = any(p != (0, 0) for p in map(tuple, padding))
    shape = ConvShape(n, h, w, c, out_channels, (kh, kw), tuple(window_strides), groups)
    form = _form(lowering, shape, padded)

    def apply(form: str, lhs, rhs):
        return _apply(form, lhs, rhs, window_strides, padding, groups, precision, xla)

    concrete = all(isinstance(d, int) for d in (*lhs.shape, *rhs.shape))  # not a symbolic (exported) batch
    if lowering == "auto" and concrete and jax.default_backend() == "cpu":
        key = f"{lhs.dtype}|{tuple(lhs.shape)}|{tuple(rhs.shape)}|s{tuple(window_strides)}|p{padding_key(padding)}|g{groups}"
        if precision is not None:
            key += f"|{precision}"

        def operands():
            rng = np.random.default_rng(0)
            x = rng.standard_normal(lhs.shape).astype(lhs.dtype)
            k = rng.standard_normal(rhs.shape).astype(rhs.dtype)
            out = jax.eval_shape(lambda x, k: apply(form, x, k), x, k)
            return x, k, rng.standard_normal(out.shape).astype(out.dtype)

        form = conv_tuning.form_for(
            key, candidates(shape, padded=padded), form, lambda f: functools.partial(apply, f), operands
        )
    return apply(form, lhs, rhs)


def padding_key(padding) -> tuple[tuple[int, int], ...]:
    return tuple((int(low), int(high)) for low, high in padding)


def _apply(form: str, lhs, rhs, window_strides, padding, groups: int, precision, xla):
    """`lhs` convolved with `rhs` (NHWC, HWIO) in `form`; `xla(lhs, rhs, groups, strides, padding)` is
    XLA's own conv (with the call's dilation, precision and dimension numbers)."""
    if form == "xla":
        return xla(lhs, rhs, groups, window_strides, padding)
    kh, kw, in_per_group, out_channels = rhs.shape
    if form == "matmul":
        sh, sw = window_strides
        x = lhs[:, ::sh, ::sw, :] if (sh, sw) != (1, 1) else lhs
        return lax.dot_general(x, rhs[0, 0], (((3,), (0,)), ((), ())), precision=precision)
    if form == "taps":
        return _taps(lhs, rhs, window_strides, padding, groups, precision)
    if form == "phases":
        return _phases(lhs, rhs, window_strides, padding, groups, precision, xla)
    out_per_group = out_channels // groups
    if form == "blockdiag":
        blocks = rhs.reshape(kh, kw, in_per_group, groups, out_per_group)
        eye = jnp.eye(groups, dtype=rhs.dtype)
        dense = jnp.einsum("hwcgo,fg->hwfcgo", blocks, eye).reshape(kh, kw, groups * in_per_group, out_channels)
        return xla(lhs, dense, 1, window_strides, padding)
    outputs = [
        xla(
            lhs[..., g * in_per_group : (g + 1) * in_per_group],
            rhs[..., g * out_per_group : (g + 1) * out_per_group],
            1,
            window_strides,
            padding,
        )
        for g in range(groups)
    ]
    return jnp.concatenate(outputs, axis=-1)


def _phases(lhs, rhs, window_strides, padding, groups: int, precision, xla):
    """A strided conv as a stride-1 conv over the input's phases (space to depth).

    With stride s, output pixel i reads padded input s*i + t for taps t < k; writing t = s*a + p,
    that is phase p of the input at position i + a. So the input becomes (H/s, W/s) pixels of
    s*s*C channels (group-major, so groups stay contiguous), the kernel ceil(k/s) x ceil(k/s) taps
    of s*s*C/groups inputs (taps past k are zero), and the conv runs at stride 1, whose backward
    XLA's CPU runs at dense speed where a strided one's is many times slower.
    """
    (sh, sw), (kh, kw) = window_strides, rhs.shape[:2]
    n, _, _, c = lhs.shape
    x = jnp.pad(lhs, ((0, 0), *map(tuple, padding), (0, 0)))
    hp, wp = x.shape[1:3]
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    hq, wq = -(-hp // sh), -(-wp // sw)
    x = jnp.pad(x, ((0, 0), (0, hq * sh - hp), (0, wq * sw - wp), (0, 0)))
    in_per_group = c // groups
    x = x.reshape(n, hq, sh, wq, sw, groups, in_per_group).transpose(0, 1, 3, 5, 2, 4, 6)
    x = x.reshape(n, hq, wq, groups * sh * sw * in_per_group)
    kq_h, kq_w = -(-kh // sh), -(-kw // sw)
    out_channels = rhs.shape[3]
    k = jnp.pad(rhs, ((0, kq_h * sh - kh), (0, kq_w * sw - kw), (0, 0), (0, 0)))
    k = k.reshape(kq_h, sh, kq_w, sw, in_per_group, out_channels).transpose(0, 2, 1, 3, 4, 5)
    k = k.reshape(kq_h, kq_w, sh * sw * in_per_group, out_channels)
    inner = "pergroup" if groups > 1 else "xla"
    y = _apply(inner, x, k, (1, 1), ((0, 0), (0, 0)), groups, precision, xla)
    return y[:, :ho, :wo, :]
