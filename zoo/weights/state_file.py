"""A model's whole NNX state <-> one safetensors file with flat, readable keys.

Keys are the state's paths joined by dots (`stages.0.blocks.1.conv2.kernel`, `stem.bn.mean`);
the header's metadata carries the format version, the zoo version and the spec as JSON, so
the file alone says what it holds. The header is checked before safetensors reads a byte of
data, so a corrupt or truncated file raises WeightsFormatError, never a crash or a partial
load. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import jax.numpy as jnp
import numpy as np
from flax import nnx

from zoo.atomic import atomic_path
from zoo.errors import SpecError, WeightsFormatError, WeightsMismatchError
from zoo.paths import regular_file
from zoo.spec import ModelSpec
from zoo.version import __version__

M = TypeVar("M", bound=nnx.Module)

FORMAT_NAME = "anynet-zoo"
FORMAT_VERSION = "1"
WEIGHTS_NAME = "model.safetensors"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
NUMPY_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}
DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
}
_LISTED = 12  # how many keys an error message lists before saying "and N more"


def _zoo_version() -> str:
    return __version__


# -- model state <-> flat arrays ---------------------------------------------------------
# What a weights file holds: parameters and batch statistics, never the RNG streams of dropout and
# drop path (zoo.nn.drop), which belong to a run, not to the weights.
SAVED_STATE = nnx.Not(nnx.RngState)


def flat_key(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


def state_arrays(model: nnx.Module) -> dict[str, np.ndarray]:
    """Every parameter and batch statistic of `model` as numpy arrays under their flat keys."""
    flat = nnx.to_flat_state(nnx.state(model, SAVED_STATE))
    return {flat_key(path): np.asarray(var.get_value()) for path, var in flat}


def state_shapes(model: nnx.Module) -> dict[str, tuple[int, ...]]:
    flat = nnx.to_flat_state(nnx.state(model, SAVED_STATE))
    return {flat_key(path): tuple(var.get_value().shape) for path, var in flat}


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f" ... and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def check_keys(arrays: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]], where: str) -> None:
    """Raise WeightsMismatchError unless `arrays` has exactly the keys and shapes of `shapes`."""
    missing = sorted(set(shapes) - set(arrays))
    unexpected = sorted(set(arrays) - set(shapes))
    mismatched = sorted(
        (k, tuple(arrays[k].shape), shapes[k]) for k in set(arrays) & set(shapes) if tuple(arrays[k].shape) != shapes[k]
    )
    if not (missing or unexpected or mismatched):
        return
    lines = [f"weights from {where} do not fit the model:"]
    if missing:
        lines.append(f"  missing keys ({len(missing)}): {_listing(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
    if mismatched:
        shown = [f"{k} file {list(f)} vs model {list(m)}" for k, f, m in mismatched]
        lines.append(f"  wrongly shaped keys ({len(mismatched)}): {_listing(shown)}")
    lines.append(
        "  Build the model from the spec the weights were saved with (zoo.load('local-dir:DIR') reads it from "
        "config.json), or convert the file if it comes from another library (see docs/weights.md)."
    )
    raise WeightsMismatchError("\n".join(lines), missing=missing, unexpected=unexpected, mismatched=mismatched)


def apply_arrays(model: M, arrays: Mapping[str, np.ndarray], *, where: str) -> M:
    """Put `arrays` into `model` after checking every key and shape; cast to the model's dtypes."""
    flat = nnx.to_flat_state(nnx.state(model, SAVED_STATE))
    check_keys(arrays, {flat_key(p): tuple(v.get_value().shape) for p, v in flat}, where)
    new = [(p, v.replace(jnp.asarray(arrays[flat_key(p)], dtype=v.get_value().dtype))) for p, v in flat]
    nnx.update(model, nnx.from_flat_state(new))
    return model


# -- the file ----------------------------------------------------------------------------
def spec_metadata(spec: ModelSpec) -> dict[str, str]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "zoo_version": _zoo_version(),
        "spec": spec.to_json(sort_keys=True),
    }


def save_weights(model: nnx.Module, path: str | os.PathLike, *, metadata: Mapping[str, str] | None = None) -> Path:
    """Write the model's whole state to one safetensors file, atomically."""
    meta = spec_metadata(model.spec) if hasattr(model, "spec") else {"format": FORMAT_NAME}
    meta.update(metadata or {})
    return save_arrays(state_arrays(model), path, metadata=meta)


def save_arrays(arrays: Mapping[str, np.ndarray], path: str | os.PathLike, *, metadata: Mapping[str, str]) -> Path:
    from safetensors.numpy import save_file

    contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=dict(metadata))
        _sort_metadata_in_place(tmp)
    return Path(path)


def _sort_metadata_in_place(path: Path) -> None:
    """Rewrite the header with its metadata keys sorted, so the same model always gives the same bytes
    (safetensors writes metadata in hash order). The header keeps its length: the data does not move."""
    with open(path, "r+b") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        metadata = header.pop("__metadata__", None)
        ordered = {"__metadata__": dict(sorted(metadata.items())), **header} if metadata else header
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) <= n:  # always, as only the order changed; otherwise leave the file as written
            f.seek(8)
            f.write(text.ljust(n, b" "))


def read_header(path: str | os.PathLike) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The tensor table and metadata of a safetensors file, checked against the file's size."""
    header, metadata, _ = _read_table(path)
    return header, metadata


def _read_table(path: str | os.PathLike) -> tuple[dict[str, dict[str, Any]], dict[str, str], int]:
    path = Path(path)
    where = f"weights file {path}"
    regular_file(path, what="weights file", error=WeightsFormatError)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise WeightsFormatError(
                    f"{where} is truncated: {size} bytes, shorter than a safetensors header. "
                    "Delete it and download or save it again."
                )
            n = int.from_bytes(prefix, "little")
            if n > MAX_HEADER_BYTES or n > size - 8:
                raise WeightsFormatError(
                    f"{where} is truncated or not safetensors: its header claims {n} bytes but "
                    f"the file has {size - 8}. Delete it and download or save it again."
                )
            raw = f.read(n)
    except OSError as err:
        raise WeightsFormatError(f"cannot read {where}: {err.strerror or err}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise WeightsFormatError(
            f"{where} has a malformed header ({type(err).__name__}); it is not a valid "
            "safetensors file. Delete it and download or save it again."
        ) from None
    if not isinstance(header, dict):
        raise WeightsFormatError(f"{where}: the header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise WeightsFormatError(f"{where}: __metadata__ must map strings to strings")
    _check_tensor_table(header, size - 8 - n, where)
    return header, metadata, 8 + n


def _check_tensor_table(header: dict[str, Any], data_bytes: int, where: str) -> None:
    spans = []
    for key, info in header.items():
        at = f"{where}: tensor {key!r}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise WeightsFormatError(f"{at} must be an object with exactly dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_BYTES:
            raise WeightsFormatError(f"{at} has unknown dtype {dtype!r}; known: {sorted(DTYPE_BYTES)}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise WeightsFormatError(f"{at} has a malformed shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_bytes
        ):
            raise WeightsFormatError(
                f"{at} has data_offsets {offsets!r} outside the file's {data_bytes} data "
                "bytes: the file is truncated or corrupt. Delete it and fetch it again."
            )
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise WeightsFormatError(
                f"{at}: shape {shape} of {dtype} does not match its {offsets[1] - offsets[0]} bytes"
            )
        spans.append(tuple(offsets))
    spans.sort()
    end = 0
    for begin, stop in spans:
        if begin != end:
            raise WeightsFormatError(
                f"{where}: tensor data overlaps or leaves gaps at byte {begin}; the file is corrupt"
            )
        end = stop
    if end != data_bytes:
        raise WeightsFormatError(
            f"{where}: {data_bytes - end} trailing bytes after the last tensor; the file is corrupt"
        )


def numpy_dtype(code: str) -> np.dtype:
    if code == "BF16":
        import ml_dtypes  # ships with jax

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(NUMPY_DTYPES[code])


def read_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All tensors of a safetensors file with its metadata; the header is checked first.

    Zero-copy: the arrays are read-only views of the memory-mapped file (safetensors' layout
    is little-endian, C-ordered, and our check proved every tensor lies inside the file).
    """
    header, metadata, data_start = _read_table(path)
    try:
        mapped = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as err:
        raise WeightsFormatError(f"weights file {path} could not be mapped: {err}") from None
    arrays = {}
    for key, info in header.items():
        begin, end = info["data_offsets"]
        raw = mapped[data_start + begin : data_start + end]
        arrays[key] = raw.view(numpy_dtype(info["dtype"])).reshape(info["shape"])
    return arrays, metadata


def spec_from_metadata(metadata: Mapping[str, str], where: str) -> ModelSpec | None:
    """The spec a zoo weights file carries, or None for files written by other libraries."""
    if metadata.get("format") != FORMAT_NAME or "spec" not in metadata:
        return None
    version = metadata.get("format_version", "")
    if version != FORMAT_VERSION:
        raise WeightsFormatError(
            f"{where} has zoo format version {version!r}; this zoo reads version {FORMAT_VERSION}. Upgrade anynet-zoo."
        )
    try:
        return ModelSpec.from_json(metadata["spec"], where=f"{where} metadata 'spec'")
    except SpecError as err:
        raise WeightsFormatError(str(err)) from None
