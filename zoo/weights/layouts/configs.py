"""Which spec and layout a config.json announces: ours, transformers' RegNet, or timm's.

keras-hub style: the config's own keys pick the loader, so repos written by other libraries
load directly. timm configs name an architecture; its spec comes from the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from zoo.errors import WeightsFormatError
from zoo.spec import ModelSpec
from zoo.weights.layouts import layout_from_config
from zoo.weights.layouts.transformers import spec_from_transformers_config


def _registry_spec(name: str) -> ModelSpec:
    from zoo.registry import get_spec

    return get_spec(name)


def spec_from_config(
    config: Mapping[str, Any] | None, where: str, spec_for_name: Callable[[str], ModelSpec] = _registry_spec
) -> tuple[ModelSpec | None, str | None]:
    """(spec, layout) from a config.json object; (None, None) when there is no config."""
    from zoo.weights.config import config_from_dict

    if config is None:
        return None, None
    layout = layout_from_config(config)
    if layout == "zoo":
        return config_from_dict(config, where).spec, layout
    if layout == "transformers":
        return spec_from_transformers_config(config, where), layout
    if layout == "timm":
        spec = spec_for_name(str(config["architecture"]).split(".")[0])
        num_classes = config.get("num_classes")
        if isinstance(num_classes, int) and num_classes > 0 and num_classes != spec.num_classes:
            spec = spec.replace(num_classes=num_classes)
        return spec, layout
    raise WeightsFormatError(
        f"{where}: config.json is not one the zoo recognises (anynet-zoo, timm or transformers RegNet)"
    )
