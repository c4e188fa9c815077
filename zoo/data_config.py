"""The data config a model travels with: the inputs it was trained on and the names of its classes.

timm calls it `pretrained_cfg` / `resolve_data_config`. The type is zoo.weights.config.DataConfig
(config.json's 'preprocessing' and a pretrained tag use the same one); `zoo.load` reads it once,
when it opens the source (zoo.loading), and attaches it; `data_config(model)` reads it back (or
the spec's defaults for a model that was never trained), and `create_transform` turns it into a
preprocessing function.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import SpecError
from zoo.spec import ModelSpec
from zoo.weights.config import LABEL_SETS, DataConfig, label_set

__all__ = ["LABEL_SETS", "DataConfig", "attach", "data_config", "label_set"]


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
