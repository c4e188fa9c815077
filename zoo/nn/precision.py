"""Mixed precision: compute in a low-precision dtype while parameters and BN statistics stay float32.

Flax's Conv, Linear and BatchNorm read their `dtype` attribute on every call (parameters keep
`param_dtype`), so setting it on a built model switches the compute dtype of every such layer,
including those of plugin components nobody here wrote. BatchNorm computes its batch statistics
in at least float32 whatever `dtype` says; the training loss is computed in float32.
"""

from __future__ import annotations

from typing import Any, TypeVar

import jax.numpy as jnp
import numpy as np
from flax import nnx

from zoo.errors import SpecError

M = TypeVar("M", bound=nnx.Module)

COMPUTE_DTYPES = ("float32", "bfloat16", "float16")


def compute_dtype(dtype: Any):
    """jnp.bfloat16 from 'bfloat16', jnp.bfloat16 or np.dtype('bfloat16'); None stays None (float32)."""
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in COMPUTE_DTYPES:
        raise SpecError(f"dtype={dtype!r} is not a compute dtype; choose one of {', '.join(COMPUTE_DTYPES)}")
    return None if name == "float32" else getattr(jnp, name)


def set_compute_dtype(model: M, dtype: Any) -> M:
    """Make every layer with a `dtype` and a `param_dtype` compute in `dtype` (None: float32); returns `model`."""
    value = compute_dtype(dtype)
    for _, module in nnx.iter_modules(model):
        if module is not model and hasattr(module, "dtype") and hasattr(module, "param_dtype"):
            module.dtype = value
    return model


def model_compute_dtype(model: nnx.Module) -> str:
    """'bfloat16' when the model's layers compute in bfloat16, else 'float32'."""
    for _, module in nnx.iter_modules(model):
        dtype = getattr(module, "dtype", None)
        if module is not model and hasattr(module, "param_dtype") and dtype is not None:
            return np.dtype(dtype).name
    return "float32"
