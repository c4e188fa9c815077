"""config.json: the spec, the preprocessing and the class labels that travel beside the weights.

With it a folder or Hub repo alone is enough to rebuild the model and feed it the inputs it
was trained on.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
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
LABEL_SETS = {"imagenet-1k": "imagenet1k.txt", "digits": "digits.txt", "fashion-mnist": "fashion_mnist.txt"}


@dataclass(frozen=True)
class DataConfig:
    """The inputs one model was trained on and the names of its classes (timm: pretrained_cfg): NHWC
    floats in [0, 1], resized, cropped, then (x - mean) / std. One type with one set of defaults, for
    config.json's 'preprocessing', a pretrained tag, and the config a loaded model carries."""

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    channel_order: str = "RGB"
    labels: tuple[str, ...] | None = None
    background: str | None = None  # 'dark' or 'light' where known: the trained images' background

    @classmethod
    def default_for(cls, spec: ModelSpec) -> DataConfig:
        """ImageNet statistics for RGB models; identity normalisation for other channel counts."""
        if spec.in_channels == 3:
            return cls(spec.input_size, IMAGENET_MEAN, IMAGENET_STD)
        order = "L" if spec.in_channels == 1 else "C" * spec.in_channels
        return cls(spec.input_size, (0.0,) * spec.in_channels, (1.0,) * spec.in_channels, "bilinear", 1.0, order)

    @property
    def in_channels(self) -> int:
        return len(self.mean)

    def without_labels(self) -> DataConfig:
        return replace(self, labels=None)

    def to_dict(self, *, labels: bool = True) -> dict[str, Any]:
        """The JSON form; config.json's 'preprocessing' leaves the labels out (they sit beside it)."""
        data: dict[str, Any] = {
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "channel_order": self.channel_order,
            "layout": "NHWC",
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
        }
        if self.background is not None:
            data["background"] = self.background
        if labels:
            data["labels"] = list(self.labels) if self.labels is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str) -> DataConfig:
        """Parse and check the JSON form; a missing optional field takes the class default."""
        if not isinstance(data, Mapping):
            raise WeightsFormatError(f"{where}: 'preprocessing' must be an object")
        labels = data.get("labels")
        if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise WeightsFormatError(f"{where}: 'labels' must be a list of class names")
        if data.get("background") not in (None, "dark", "light"):
            raise WeightsFormatError(f"{where}: 'background' must be 'dark' or 'light', got {data['background']!r}")
        try:
            pre = cls(
                input_size=int(data["input_size"]),
                mean=tuple(float(x) for x in data["mean"]),
                std=tuple(float(x) for x in data["std"]),
                interpolation=str(data.get("interpolation", cls.interpolation)),
                crop_pct=float(data.get("crop_pct", cls.crop_pct)),
                channel_order=str(data.get("channel_order", cls.channel_order)),
                labels=tuple(labels) if labels is not None else None,
                background=data.get("background"),
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
    preprocessing: DataConfig  # without labels: config.json keeps them beside it
    labels: tuple[str, ...] | None = None
    architecture: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data_config(self) -> DataConfig:
        """The preprocessing with the labels: what a model loaded from this config carries."""
        return replace(self.preprocessing, labels=self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "library_name": FORMAT_NAME,
            "format_version": int(FORMAT_VERSION),
            "zoo_version": _zoo_version(),
            "architecture": self.architecture,
            "spec": self.spec.to_dict(),
            "preprocessing": self.preprocessing.to_dict(labels=False),
            "labels": list(self.labels) if self.labels is not None else None,
            **dict(self.extra),
        }


def make_config(
    spec: ModelSpec,
    *,
    preprocessing: DataConfig | None = None,
    labels: Sequence[str] | None = None,
    architecture: str | None = None,
) -> PretrainedConfig:
    if labels is None and preprocessing is not None:
        labels = preprocessing.labels
    if labels is not None:
        labels = tuple(str(x) for x in labels)
        if len(labels) != spec.num_classes:
            raise SpecError(
                f"{len(labels)} class labels given for a model with {spec.num_classes} classes; "
                "give one label per class"
            )
    pre = (preprocessing or DataConfig.default_for(spec)).without_labels()
    return PretrainedConfig(spec, pre, labels, architecture)


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
    pre = DataConfig.from_dict(
        data.get("preprocessing") or DataConfig.default_for(spec).to_dict(), where
    ).without_labels()
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


def label_set(name: str) -> tuple[str, ...]:
    """A class-name list the package ships ('imagenet-1k'), one name per line, in class order."""
    if name not in LABEL_SETS:
        raise SpecError(f"unknown label set {name!r}; the zoo ships {sorted(LABEL_SETS)}")
    text = resources.files("zoo").joinpath("labels", LABEL_SETS[name]).read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def data_config_from_json(data: Mapping[str, Any], spec: ModelSpec, where: str) -> DataConfig:
    """The data config a config.json object records: ours, timm's pretrained_cfg, or transformers'
    id2label; what a foreign one leaves out takes the defaults for `spec`."""
    if is_zoo_config(data):
        return config_from_dict(data, where).data_config
    default = DataConfig.default_for(spec)
    labels = None
    if isinstance(data.get("id2label"), Mapping):  # transformers
        id2label = data["id2label"]
        labels = tuple(str(id2label.get(str(i), id2label.get(i, i))) for i in range(len(id2label)))
    elif isinstance(data.get("label_names"), list):  # timm
        labels = tuple(str(x) for x in data["label_names"])
    cfg: Mapping[str, Any] = data["pretrained_cfg"] if isinstance(data.get("pretrained_cfg"), Mapping) else {}
    try:
        return replace(
            default,
            mean=tuple(float(x) for x in cfg.get("mean", default.mean)),
            std=tuple(float(x) for x in cfg.get("std", default.std)),
            interpolation=str(cfg.get("interpolation", default.interpolation)),
            crop_pct=float(cfg.get("crop_pct", default.crop_pct)),
            labels=labels,
        )
    except (TypeError, ValueError):
        raise WeightsFormatError(f"{where}: malformed pretrained_cfg (mean, std, crop_pct must be numbers)") from None


def saved_out_indices(config: Mapping[str, Any] | None, where: str) -> tuple[int, ...] | None:
    """The out_indices of a backbone save_pretrained wrote (config.json's `features_only`), else None."""
    entry = config.get("features_only") if isinstance(config, Mapping) else None
    if entry is None:
        return None
    indices = entry.get("out_indices") if isinstance(entry, Mapping) else None
    if not (isinstance(indices, list) and indices and all(type(i) is int for i in indices)):
        raise WeightsFormatError(f"{where}: features_only.out_indices must be a list of stage indices, got {entry!r}")
    return tuple(indices)
