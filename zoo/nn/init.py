"""Parameter initialisers that compile a handful of programs, not one per parameter shape.

jax.random's samplers are compiled for each output shape, and a truncated normal takes about
0.5 s to compile on a 2-core CPU, so building a new network spent most of its time compiling
initialisers: 6-12 s for a sampled 2-4 MFLOP model of a sweep, paid again by every trial
(bench/NOTES.md, "Sweep trial cost"). These draw a flat vector whose length is rounded up to a
power of two, so one program serves every shape up to that size, then cut it to the shape: on
the host when the key is concrete (no further compile), in the trace when it is not (under
jit or nnx.eval_shape), with the same values either way. The distributions are those of
flax's initialisers of the same name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# The standard deviation of a standard normal truncated to [-2, 2] (flax and TF divide by it).
_TRUNCATED_STD = 0.87962566103423978
_MIN_DRAW = 1024


def _draw_size(n: int) -> int:
    return max(_MIN_DRAW, 1 << (n - 1).bit_length())


@partial(jax.jit, static_argnums=(1, 2))
def _flat_normal(key: jax.Array, size: int, truncated: bool) -> jax.Array:
    if truncated:
        return jax.random.truncated_normal(key, -2.0, 2.0, (size,), jnp.float32)
    return jax.random.normal(key, (size,), jnp.float32)


def _normal(key: jax.Array, shape: Sequence[int], dtype: Any, std: float, truncated: bool) -> jax.Array:
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    flat = _flat_normal(key, _draw_size(n), truncated)
    try:
        host = np.asarray(flat)
    except jax.errors.TracerArrayConversionError:  # under jit / eval_shape: finish in the trace
        return (flat[:n].reshape(shape) * jnp.float32(std)).astype(dtype)
    return jnp.asarray((host[:n].reshape(shape) * np.float32(std)).astype(np.dtype(dtype)))


def he_normal_fan_out(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    """Kaiming normal over fan-out (truncated at 2 sigma, as flax's variance_scaling(2, "fan_out", "normal")).

    `shape` is a conv kernel's (kh, kw, in_per_group, out) or a dense (in, out).
    """
    fan_out = int(shape[-1]) * math.prod(int(s) for s in shape[:-2])
    return _normal(key, shape, dtype, math.sqrt(2.0 / fan_out) / _TRUNCATED_STD, truncated=True)


def normal(stddev: float):
    """A normal initialiser with this standard deviation (flax's initializers.normal)."""

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return _normal(key, shape, dtype, stddev, truncated=False)

    return init
