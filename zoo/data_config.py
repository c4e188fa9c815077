"""The data config a model travels with: the inputs it was trained on and the names of its classes.

timm calls it `pretrained_cfg` / `resolve_data_config`. `zoo.load` attaches one from the
source's config.json or pretrained tag; `data_config(model)` reads it (or the spec's
defaults for a model that was never trained), and `create_transform` turns it into a
preprocessing function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from zoo.errors import SpecError, WeightsFormatError
from zoo.spec import ModelSpec
from zoo.weights.config import CONFIG_NAME, Preprocessing, config_from_dict, is_zoo_config, read_json

LABEL_SETS = {"imagenet-1k": "imagenet1k.txt", "digits": "digits.txt", "fashion-mnist": "fashion_mnist.txt"}
SHIPPED = "shipped"  # zoo/shipped/NAME: weights folders the package carries (packaged tags)


@dataclass(frozen=True)
class DataConfig:
    """Input size, normalisation, resize rule, channel order and class labels of one model."""

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    channel_order: str = "RGB"
    labels: tuple[str, ...] | None = None

    @classmethod
    def from_preprocessing(cls, pre: Preprocessing, labels: Sequence[str] | None = None) -> DataConfig:
        return cls(
            pre.input_size,
            tuple(pre.mean),
            tuple(pre.std),
            pre.interpolation,
            pre.crop_pct,
            pre.channel_order,
            tuple(labels) if labels is not None else None,
        )

    @classmethod
    def default_for(cls, spec: ModelSpec) -> DataConfig:
        return cls.from_preprocessing(Preprocessing.default_for(spec))

    @property
    def in_channels(self) -> int:
        return len(self.mean)

    def without_labels(self) -> DataConfig:
        return replace(self, labels=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "channel_order": self.channel_order,
            "layout": "NHWC",
            "labels": list(self.labels) if self.labels is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> DataConfig:
        pre = Preprocessing.from_dict(data, where)
        labels = data.get("labels")
        if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise SpecError(f"{where}: 'labels' must be a list of class names")
        return cls.from_preprocessing(pre, labels)


def label_set(name: str) -> tuple[str, ...]:
    """A class-name list the package ships ('imagenet-1k'), one name per line, in class order."""
    if name not in LABEL_SETS:
        raise SpecError(f"unknown label set {name!r}; the zoo ships {sorted(LABEL_SETS)}")
    text = resources.files("zoo").joinpath("labels", LABEL_SETS[name]).read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def data_config(model: Any) -> DataConfig:
    """The data config `model` was loaded with, else the defaults its spec implies (no labels)."""
    attached = getattr(model, "data_config", None)
    if isinstance(attached, DataConfig):
        return attached
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise SpecError(f"data_config needs a zoo model (zoo.load / zoo.create), got {type(model).__name__}")
    return DataConfig.default_for(spec)


def attach(model: Any, config: DataConfig | None) -> Any:
    """Record `config` on `model` (labels dropped unless there is one per class); returns the model."""
    if config is None:
        return model
    if config.labels is not None and len(config.labels) != model.spec.num_classes:
        config = config.without_labels()
    model.data_config = config
    return model


def shipped_folder(name: str) -> Path:
    """The folder of a packaged tag's weights inside the installed package (zoo/shipped/NAME)."""
    folder = Path(str(resources.files("zoo").joinpath(SHIPPED, name)))
    if not (folder / CONFIG_NAME).is_file():
        raise WeightsFormatError(f"the packaged weights {name!r} are missing from {folder}; reinstall anynet-zoo")
    return folder


def tag_labels(tag: Any, num_classes: int) -> tuple[str, ...] | None:
    """A tag's class names: its `labels` set, else ImageNet-1k for timm-style '*in1k' tags of 1000 classes."""
    if tag.labels:
        return label_set(tag.labels)
    if tag.tag.endswith("in1k") and num_classes == 1000:
        return label_set("imagenet-1k")
    return None


def from_tag(tag: Any, spec: ModelSpec) -> DataConfig:
    """The data config a pretrained tag records (zoo.hub.tags.PretrainedTag)."""
    return DataConfig.from_preprocessing(tag.preprocessing(spec), tag_labels(tag, spec.num_classes))


def from_config_json(data: Mapping[str, Any] | None, spec: ModelSpec, where: str) -> DataConfig:
    """The data config a config.json records: ours, timm's pretrained_cfg, or transformers' id2label."""
    default = DataConfig.default_for(spec)
    if not data:
        return default
    if is_zoo_config(data):
        config = config_from_dict(data, where)
        return DataConfig.from_preprocessing(config.preprocessing, config.labels)
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


def from_folder(folder: str | Path, spec: ModelSpec) -> DataConfig:
    """The data config of a folder's config.json (the spec's defaults when it has none)."""
    path = Path(folder) / CONFIG_NAME
    return from_config_json(read_json(path) if path.is_file() else None, spec, str(path))


def from_packaged(folder: str | Path, tag: Any, spec: ModelSpec) -> DataConfig:
    """A packaged tag's data config: its folder's config.json, with the tag's labels where that has none."""
    config = from_folder(folder, spec)
    return config if config.labels is not None else replace(config, labels=tag_labels(tag, spec.num_classes))
