"""Weights checked against a spec before any model is built: blocks, keys, shapes, dtypes, finite values.

A config.json or weights file from anywhere is untrusted. The spec is bounded (zoo.spec.SpecLimits),
the block structure is compared by name at once, and the expected keys and shapes come from an
abstract build (nnx.eval_shape: shapes only, no allocation), so a file that does not fit is refused
before a byte of model memory is allocated.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax import nnx

from zoo.errors import WeightsMismatchError, WeightsValueError
from zoo.nn.anynet import AnyNet
from zoo.nn.drop import model_rngs
from zoo.plugins import manager
from zoo.spec import ModelSpec
from zoo.weights.state_file import SAVED_STATE, check_keys, flat_key, read_arrays

ALLOW_NONFINITE_ENV = "ZOO_ALLOW_NONFINITE_WEIGHTS"
_BLOCK_KEY = re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.")
_LISTED = 12


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" ... and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def _is_float(dtype: Any) -> bool:
    return np.dtype(dtype).kind == "f" or str(dtype) == "bfloat16"


def check_blocks(keys: Any, spec: ModelSpec, where: str) -> None:
    """Refuse at once a file whose blocks per stage differ from the spec's depths (read from key names)."""
    found = {(int(m[1]), int(m[2])) for k in keys if (m := _BLOCK_KEY.match(k))}
    if not found:
        return  # no zoo block names: the shape check below says what is wrong
    wanted = {(i, j) for i, stage in enumerate(spec.stages) for j in range(stage.depth)}
    if found != wanted:
        per_stage = Counter(i for i, _ in found)
        have = [per_stage.get(i, 0) for i in range(max(max(per_stage) + 1, len(spec.stages)))]
        raise WeightsMismatchError(
            f"weights from {where} hold {have} blocks per stage but the spec asks for {spec.depths}: the "
            "config and the weights belong to different models. Load the weights with the spec they were saved "
            "with (config.json from the same save or commit)",
            missing=sorted(f"stages.{i}.blocks.{j}" for i, j in wanted - found),
            unexpected=sorted(f"stages.{i}.blocks.{j}" for i, j in found - wanted),
        )


def abstract_model(spec: ModelSpec) -> AnyNet:
    """The model's structure with every array a shape and dtype only (nothing allocated or initialised)."""
    return nnx.eval_shape(lambda: AnyNet(spec, rngs=model_rngs(0), plugins=manager()))


def check_values(arrays: Mapping[str, Any], where: str, *, allow_nonfinite: bool | None = None) -> None:
    """Refuse NaN or infinite values, naming the keys; ZOO_ALLOW_NONFINITE_WEIGHTS=1 (or the argument) allows them."""
    if allow_nonfinite is None:
        allow_nonfinite = os.environ.get(ALLOW_NONFINITE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    if allow_nonfinite:
        return
    bad = sorted(k for k, a in arrays.items() if _is_float(a.dtype) and not np.isfinite(np.asarray(a)).all())
    if bad:
        raise WeightsValueError(
            f"weights from {where} hold NaN or infinite values in {len(bad)} tensor(s): {_listing(bad)}. The file is "
            f"damaged or came from a diverged run; use another checkpoint, or set {ALLOW_NONFINITE_ENV}=1 to load "
            "it anyway (research)"
        )


def check_fits(
    arrays: Mapping[str, Any], spec: ModelSpec, where: str, *, allow_nonfinite: bool | None = None
) -> AnyNet:
    """Check `arrays` (memory-mapped or converted, in the zoo layout) against `spec` before building it:
    block structure, keys and shapes, float dtypes where floats belong, finite values.
    Returns the abstract model, ready to be filled by apply_arrays."""
    check_blocks(arrays, spec, where)
    model = abstract_model(spec)
    expected = {flat_key(p): v.get_value() for p, v in nnx.to_flat_state(nnx.state(model, SAVED_STATE))}
    check_keys(arrays, {k: tuple(v.shape) for k, v in expected.items()}, where)
    wrong = sorted(
        f"{k} ({np.dtype(arrays[k].dtype)})"
        for k, v in expected.items()
        if _is_float(v.dtype) and not _is_float(arrays[k].dtype)
    )
    if wrong:
        raise WeightsValueError(
            f"weights from {where} hold integer or boolean tensors where the model has floats: {_listing(wrong)}. "
            "The file is not a checkpoint of this model; save or convert it again"
        )
    check_values(arrays, where, allow_nonfinite=allow_nonfinite)
    return model


def check_weights_file(path: str | os.PathLike, spec: ModelSpec, *, where: str) -> None:
    """Refuse a zoo weights file that the spec could not load (used before publishing a folder)."""
    arrays, _ = read_arrays(path)
    check_fits(arrays, spec, where)
