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
from typing import Any

from zoo.errors import SpecError
from zoo.spec import ModelSpec
from zoo.weights.config import Preprocessing

LABEL_SETS = {"imagenet-1k": "imagenet1k.txt"}


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
