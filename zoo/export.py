"""`export`: a model as files that run without the zoo, with its data config beside them.

- StableHLO (`model.stablehlo`): `jax.export` of the eval-mode forward pass, weights baked
  in, batch dimension symbolic; any process with jax alone runs it through
  `jax.export.deserialize(data).call(x)`.
ONNX is not offered: jax2onnx 0.17 writes an invalid graph for AnyNets of two or more
stages and pins orbax-checkpoint < 0.11.37, below what training needs (docs/usage.md).
`data_config.json` records what the inputs must be (size, channels, mean, std, crop, labels).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from zoo.data_config import data_config
from zoo.errors import ExportError
from zoo.nn.conv_lowering import conv_lowering
from zoo.weights.state_file import atomic_path

FORMATS = ("stablehlo",)
STABLEHLO_NAME = "model.stablehlo"
DATA_CONFIG_NAME = "data_config.json"


def _write(path: Path, data: bytes) -> Path:
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {err.strerror or err}; export into a folder you can write") from None
    return path


# Names that read as one file rather than a folder: exporting there would make a folder so named.
FILE_SUFFIXES = (".onnx", ".stablehlo", ".tflite", ".pb", ".pt", ".pth", ".safetensors", ".json", ".zip")


def check_target(directory: str | os.PathLike) -> Path:
    """The export folder, checked before any work: never a folder named like a file, never under a file."""
    directory = Path(directory)
    if directory.suffix.lower() in FILE_SUFFIXES:
        raise ExportError(
            f"export target {directory} is named like a {directory.suffix} file, but an export is a folder "
            f"({STABLEHLO_NAME} and {DATA_CONFIG_NAME}); name a folder, e.g. {directory.with_suffix('')}"
        )
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"export target {directory} is a file; name a folder (it is created if missing)")
    for parent in directory.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"export target {directory} lies under {parent}, which is a file, not a folder")
            break
    return directory


def _make_folder(directory: Path) -> None:
    check_target(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(
            f"cannot create export folder {directory}: {err.strerror or err}; choose one you can write"
        ) from None


@dataclass(frozen=True)
class Exported:
    """Where an export wrote its files."""

    directory: Path
    files: dict[str, Path] = field(default_factory=dict)


def _forward(model: Any):
    model.eval()
    graphdef, state = nnx.split(model)
    return lambda x: nnx.merge(graphdef, state)(x)


def _input_shape(model: Any) -> tuple[int, int, int]:
    config = data_config(model)
    return config.input_size, config.input_size, model.spec.in_channels


def _outputs(model: Any, image: tuple[int, int, int]) -> Any:
    """What the artifact returns: logits, or for a backbone (features_only) its list of NHWC feature maps,
    each with its channels and reduction, their shapes traced from the model itself."""
    if not hasattr(model, "feature_info") or not hasattr(model, "out_indices"):
        return {"name": "logits", "shape": ["batch", model.spec.num_classes]}
    maps = jax.eval_shape(_forward(model), jax.ShapeDtypeStruct((1, *image), jnp.float32))
    return [
        {
            "name": f"features.{index}",
            "shape": ["batch", *m.shape[1:]],
            "channels": info.channels,
            "reduction": info.reduction,
        }
        for index, info, m in zip(model.out_indices, model.feature_info, maps)
    ]


def export_stablehlo(model: Any, platforms: tuple[str, ...] | None = None) -> bytes:
    """The serialized jax.export artifact: f32[batch, H, W, C] -> logits, batch symbolic."""
    (batch,) = jax.export.symbolic_shape("batch")
    example = jax.ShapeDtypeStruct((batch, *_input_shape(model)), jnp.float32)
    # CPU-only artifacts keep the fast CPU convolution forms; any other platform gets XLA's own conv.
    cpu_only = platforms == ("cpu",) or (platforms is None and jax.default_backend() == "cpu")
    lowering = "auto" if cpu_only else "xla"
    with conv_lowering(lowering):
        exported = jax.export.export(jax.jit(_forward(model)), platforms=platforms)(example)
    try:
        return bytes(exported.serialize())
    except ImportError as err:  # jax serializes with flatbuffers, which it does not require
        raise ExportError(f"{err}; install the export extra: pip install 'anynet-zoo[export]'") from None


def export(
    model: Any,
    directory: str | os.PathLike,
    *,
    formats: tuple[str, ...] = ("stablehlo",),
    platforms: tuple[str, ...] | None = None,
) -> Exported:
    """Write `model` in each of `formats` (now 'stablehlo') into `directory`, with data_config.json."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"unknown export format(s) {unknown}; choose from {list(FORMATS)}")
    directory = Path(directory)
    _make_folder(directory)
    files: dict[str, Path] = {}
    if "stablehlo" in formats:
        files["stablehlo"] = _write(directory / STABLEHLO_NAME, export_stablehlo(model, platforms))
    height, width, channels = _input_shape(model)
    info = {
        **data_config(model).to_dict(),
        "input": {"name": "images", "shape": ["batch", height, width, channels], "dtype": "float32"},
        "output": _outputs(model, (height, width, channels)),
        "spec": model.spec.to_dict(),
        "files": {k: v.name for k, v in files.items()},
    }
    files["data_config"] = _write(directory / DATA_CONFIG_NAME, (json.dumps(info, indent=2) + "\n").encode())
    return Exported(directory, files)
