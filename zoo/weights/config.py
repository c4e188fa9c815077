"""config.json: the spec, the preprocessing and the class labels that travel beside the weights.

With it a folder or Hub repo alone is enough to rebuild the model and feed it the inputs it
was trained on.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write_text
from zoo.errors import SpecError, WeightsFormatError
from zoo.paths import regular_file
from zoo.spec import ModelSpec, current_limits
from zoo.weights.state_file import FORMAT_NAME, FORMAT_VERSION, _zoo_version

CONFIG_NAME = "config.json"
MAX_CONFIG_BYTES = 64 * 1024 * 1024  # labels for 100,000 classes fit many times over
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How inputs must look: NHWC floats in [0, 1], resized, cropped, then (x - mean) / std."""

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channel_order: str = "RGB"
    interpolation: str = "bicubic"
    crop_pct: float = 0.875

    @classmethod
    def default_for(cls, spec: ModelSpec) -> Preprocessing:
        """ImageNet statistics for RGB models; identity normalisation for other channel counts."""
        if spec.in_channels == 3:
            return cls(spec.input_size, IMAGENET_MEAN, IMAGENET_STD)
        order = "L" if spec.in_channels == 1 else "C" * spec.in_channels
        return cls(spec.input_size, (0.0,) * spec.in_channels, (1.0,) * spec.in_channels, order, "bilinear", 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "channel_order": self.channel_order,
            "layout": "NHWC",
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Preprocessing:
        if not isinstance(data, Mapping):
            raise WeightsFormatError(f"{where}: 'preprocessing' must be an object")
        try:
            pre = cls(
                input_size=int(data["input_size"]),
                mean=tuple(float(x) for x in data["mean"]),
                std=tuple(float(x) for x in data["std"]),
                channel_order=str(data.get("channel_order", "RGB")),
                interpolation=str(data.get("interpolation", "bicubic")),
                crop_pct=float(data.get("crop_pct", 1.0)),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise WeightsFormatError(
                f"{where}: malformed 'preprocessing' ({type(err).__name__}: {err}); it needs input_size, mean and std"
            ) from None
        numbers = (*pre.mean, *pre.std, pre.crop_pct)
        if not all(math.isfinite(x) for x in numbers) or min(pre.std) <= 0 or pre.crop_pct <= 0:
            raise WeightsFormatError(
                f"{where}: 'preprocessing' needs finite mean, std > 0 and crop_pct > 0, got mean {list(pre.mean)}, "
                f"std {list(pre.std)}, crop_pct {pre.crop_pct}"
            )
        if not 1 <= pre.input_size <= current_limits().input_size or len(pre.mean) != len(pre.std):
            raise WeightsFormatError(
                f"{where}: 'preprocessing' needs an input_size from 1 to {current_limits().input_size} and one "
                f"mean and std per channel, got input_size {pre.input_size}, {len(pre.mean)} means, {len(pre.std)} stds"
            )
        return pre


@dataclass(frozen=True)
class PretrainedConfig:
    """What config.json holds: the spec, the preprocessing, the labels, and where it came from."""

    spec: ModelSpec
    preprocessing: Preprocessing
    labels: tuple[str, ...] | None = None
    architecture: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "library_name": FORMAT_NAME,
            "format_version": int(FORMAT_VERSION),
            "zoo_version": _zoo_version(),
            "architecture": self.architecture,
            "spec": self.spec.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "labels": list(self.labels) if self.labels is not None else None,
            **dict(self.extra),
        }


def make_config(
    spec: ModelSpec,
    *,
    preprocessing: Preprocessing | None = None,
    labels: Sequence[str] | None = None,
    architecture: str | None = None,
) -> PretrainedConfig:
    if labels is not None:
        labels = tuple(str(x) for x in labels)
        if len(labels) != spec.num_classes:
            raise SpecError(
                f"{len(labels)} class labels given for a model with {spec.num_classes} classes; "
                "give one label per class"
            )
    return PretrainedConfig(spec, preprocessing or Preprocessing.default_for(spec), labels, architecture)


def write_config(config: PretrainedConfig, path: str | os.PathLike) -> Path:
    atomic_write_text(path, json.dumps(config.to_dict(), indent=2) + "\n")
    return Path(path)


def is_zoo_config(data: Any) -> bool:
    return isinstance(data, Mapping) and data.get("library_name") == FORMAT_NAME and "spec" in data


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from a file, or WeightsFormatError saying what is wrong with it."""
    regular_file(path, what="model config", error=WeightsFormatError)
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise WeightsFormatError(
                f"{path} is {size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a config.json may have; "
                "it is not a model config"
            )
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise WeightsFormatError(f"cannot read {path}: {err.strerror or err}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsFormatError(f"{path} is not valid JSON ({err}); fetch or save it again") from None
    except RecursionError:
        raise WeightsFormatError(f"{path} nests too deeply to be a model config; fetch or save it again") from None
    if not isinstance(data, dict):
        raise WeightsFormatError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def config_from_dict(data: Mapping[str, Any], where: str) -> PretrainedConfig:
    """Parse an anynet-zoo config.json object."""
    if not is_zoo_config(data):
        raise WeightsFormatError(f"{where} is not an anynet-zoo config.json (no library_name 'anynet-zoo' and spec)")
    version = str(data.get("format_version", ""))
    if version != FORMAT_VERSION:
        raise WeightsFormatError(
            f"{where} has format_version {version!r}; this zoo reads {FORMAT_VERSION}. Upgrade anynet-zoo."
        )
    try:
        spec = ModelSpec.from_dict(data["spec"], where=f"{where} 'spec'")
    except SpecError as err:
        raise WeightsFormatError(str(err)) from None
    pre = Preprocessing.from_dict(data.get("preprocessing") or Preprocessing.default_for(spec).to_dict(), where)
    if len(pre.mean) != spec.in_channels:
        raise WeightsFormatError(
            f"{where}: 'preprocessing' gives {len(pre.mean)} means and stds for a model with {spec.in_channels} "
            "input channels; give one per channel"
        )
    labels = data.get("labels")
    if labels is not None and (
        not isinstance(labels, list) or len(labels) != spec.num_classes or not all(isinstance(x, str) for x in labels)
    ):
        raise WeightsFormatError(f"{where}: 'labels' must list one name (a string) per class ({spec.num_classes})")
    known = {"library_name", "format_version", "zoo_version", "architecture", "spec", "preprocessing", "labels"}
    extra = {k: v for k, v in data.items() if k not in known}
    return PretrainedConfig(spec, pre, tuple(labels) if labels is not None else None, data.get("architecture"), extra)


def read_config(path: str | os.PathLike) -> PretrainedConfig:
    """The PretrainedConfig in a config.json file, or in a folder's config.json."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    return config_from_dict(read_json(path), str(path))
