"""`export`: a model as files that run without the zoo, with its data config beside them.

- StableHLO (`model.stablehlo`): `jax.export` of the eval-mode forward pass, weights baked
  in, batch dimension symbolic; any process with jax runs it through
  `jax.export.deserialize(data).call(x)` (it needs jax and flatbuffers: the `export` extra).
- ONNX (`model.onnx`, opset 17): the same forward pass converted primitive by primitive
  (zoo/jaxpr_onnx.py), batch dimension symbolic; onnxruntime runs it. jax2onnx is not used: 0.17
  writes an invalid graph for AnyNets of two or more stages and pins orbax-checkpoint < 0.11.37.
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

FORMATS = ("stablehlo", "onnx")
STABLEHLO_NAME = "model.stablehlo"
ONNX_NAME = "model.onnx"
DATA_CONFIG_NAME = "data_config.json"
INPUT_NAME = "images"


def _write(path: Path, data: bytes) -> Path:
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {err.strerror or err}; export into a folder you can write") from None
    return path


# Names that read as one file rather than a folder: exporting there would make a folder so named.
# `.onnx` is the exception: such a target is the ONNX file itself, with data_config.json beside it.
FILE_SUFFIXES = (".stablehlo", ".tflite", ".pb", ".pt", ".pth", ".safetensors", ".json", ".zip")
ONNX_SUFFIX = ".onnx"


def is_onnx_file(target: str | os.PathLike) -> bool:
    """Whether `target` names one ONNX file (`x/model.onnx`) rather than an export folder."""
    return Path(target).suffix.lower() == ONNX_SUFFIX


def check_target(target: str | os.PathLike, formats: tuple[str, ...] | None = None) -> Path:
    """The export folder, checked before any work: never a folder named like a file, never under a file.
    A target ending in .onnx is the ONNX file itself, and its folder is returned."""
    target = Path(target)
    if is_onnx_file(target):
        if formats is not None and tuple(formats) != ("onnx",):
            raise ExportError(
                f"export target {target} names one ONNX file, but formats {list(formats)} were asked for; "
                f"name a folder to write several formats, e.g. {target.with_suffix('')}"
            )
        if target.is_dir():
            raise ExportError(f"export target {target} is a folder; name the .onnx file to write, or another folder")
        directory = target.parent
    else:
        directory = target
    if directory.suffix.lower() in FILE_SUFFIXES:
        raise ExportError(
            f"export target {directory} is named like a {directory.suffix} file, but an export is a folder "
            f"({STABLEHLO_NAME} and {DATA_CONFIG_NAME}); name a folder, e.g. {directory.with_suffix('')}, "
            f"or a file ending in {ONNX_SUFFIX} for ONNX alone"
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


def export_onnx(model: Any) -> bytes:
    """The serialized ONNX model (opset 17): `images` f32[batch, H, W, C] -> `logits` (a backbone: its
    feature maps), batch symbolic, weights inside."""
    try:
        import onnx  # noqa: F401  (the converter's one dependency beyond jax)
    except ImportError as err:
        raise ExportError(f"ONNX export needs the onnx package ({err}); pip install 'anynet-zoo[onnx]'") from None
    from zoo.jaxpr_onnx import to_onnx

    (batch,) = jax.export.symbolic_shape("batch")
    example = jax.ShapeDtypeStruct((batch, *_input_shape(model)), jnp.float32)
    outputs = _outputs(model, _input_shape(model))
    names = [o["name"] for o in outputs] if isinstance(outputs, list) else [outputs["name"]]
    with conv_lowering("xla"):  # plain convolutions: ONNX runtimes choose their own conv algorithms
        proto = to_onnx(_forward(model), example, input_name=INPUT_NAME, output_names=names, what=type(model).__name__)
    try:
        return proto.SerializeToString()
    except ValueError as err:  # protobuf's 2 GB limit
        raise ExportError(f"cannot serialize the ONNX model: {err}; export --format stablehlo instead") from None


def export(
    model: Any,
    target: str | os.PathLike,
    *,
    formats: tuple[str, ...] | None = None,
    platforms: tuple[str, ...] | None = None,
) -> Exported:
    """Write `model` in each of `formats` ('stablehlo', 'onnx'; default stablehlo) into the folder
    `target`, with data_config.json; a `target` ending in .onnx is that ONNX file, data_config.json beside it."""
    formats = (formats,) if isinstance(formats, str) else formats
    check_target(target, formats)
    onnx_file = is_onnx_file(target)
    formats = tuple(formats) if formats is not None else (("onnx",) if onnx_file else ("stablehlo",))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"unknown export format(s) {unknown}; choose from {list(FORMATS)}")
    if platforms and "stablehlo" not in formats:
        raise ExportError(
            f"platforms {list(platforms)} apply to the stablehlo format only; drop them for {list(formats)}"
        )
    directory = Path(target).parent if onnx_file else Path(target)
    _make_folder(directory)
    files: dict[str, Path] = {}
    if "stablehlo" in formats:
        files["stablehlo"] = _write(directory / STABLEHLO_NAME, export_stablehlo(model, platforms))
    if "onnx" in formats:
        files["onnx"] = _write(Path(target) if onnx_file else directory / ONNX_NAME, export_onnx(model))
    height, width, channels = _input_shape(model)
    info = {
        **data_config(model).to_dict(),
        "input": {"name": INPUT_NAME, "shape": ["batch", height, width, channels], "dtype": "float32"},
        "output": _outputs(model, (height, width, channels)),
        "spec": model.spec.to_dict(),
        "files": {k: v.name for k, v in files.items()},
    }
    files["data_config"] = _write(directory / DATA_CONFIG_NAME, (json.dumps(info, indent=2) + "\n").encode())
    return Exported(directory, files)
