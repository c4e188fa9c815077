"""The zoo's built-in weight layouts (its own, timm's RegNet, transformers' RegNet), registered
through the `zoo_add_weight_layouts` hook like any plugin's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.plugins.hookspecs import hookimpl
from zoo.plugins.layout_records import LayoutContext, WeightLayout
from zoo.spec import ModelSpec
from zoo.weights.config import config_from_dict, is_zoo_config
from zoo.weights.layouts import ZOO_LAYOUT, timm, transformers


def _zoo_keys(keys: set[str]) -> bool:
    return "stem.conv.kernel" in keys


def _zoo_spec(config: Mapping[str, Any], where: str, context: LayoutContext) -> ModelSpec:
    return config_from_dict(config, where).spec


@hookimpl
def zoo_add_weight_layouts():
    return [
        WeightLayout(ZOO_LAYOUT, is_zoo_config, _zoo_keys, None, _zoo_spec, "anynet-zoo's own (NHWC, flat NNX names)"),
        WeightLayout(
            timm.NAME,
            timm.recognises_config,
            timm.recognises_keys,
            timm.timm_to_zoo,
            timm.spec_from_config,
            "timm's RegNet (s1.b1.conv1.conv, OIHW)",
        ),
        WeightLayout(
            transformers.NAME,
            transformers.recognises_config,
            transformers.recognises_keys,
            transformers.transformers_to_zoo,
            transformers.spec_from_config,
            "transformers' RegNet (regnet.encoder.stages.S.layers.B, OIHW)",
        ),
    ]
