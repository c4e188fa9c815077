"""Converters from weight layouts published by other libraries into ours, chosen by sniffing.

A layout is recognised from config.json when there is one, else from the tensor names:
"zoo" (ours), "timm" (timm's RegNet) or "transformers" (transformers' RegNet). Converted
files are cached under $ZOO_CACHE (default ~/.cache/anynet-zoo)/converted, keyed by the
source file's sha256, so a conversion runs once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import WeightsFormatError
from zoo.weights.layouts.timm import is_timm_layout, timm_to_zoo
from zoo.weights.layouts.transformers import is_transformers_config, is_transformers_layout, transformers_to_zoo

LAYOUTS = ("zoo", "timm", "transformers")
CONVERTER_VERSION = "1"


def layout_from_config(config: Mapping[str, Any] | None) -> str | None:
    """The layout a config.json announces, or None when it says nothing we know."""
    if not config:
        return None
    from zoo.weights.config import is_zoo_config

    if is_zoo_config(config):
        return "zoo"
    if is_transformers_config(config):
        return "transformers"
    if "architecture" in config and ("pretrained_cfg" in config or "num_features" in config):
        return "timm"
    return None


def layout_from_keys(keys: set[str], where: str) -> str:
    if "stem.conv.kernel" in keys:
        return "zoo"
    if is_timm_layout(keys):
        return "timm"
    if is_transformers_layout(keys):
        return "transformers"
    raise WeightsFormatError(
        f"{where}: cannot tell which library wrote these weights (first keys: {sorted(keys)[:5]}); "
        "the zoo reads its own layout, timm's RegNet and transformers' RegNet"
    )


def to_zoo_arrays(arrays: Mapping[str, np.ndarray], layout: str) -> dict[str, np.ndarray]:
    """Tensors in `layout` renamed and transposed into ours."""
    if layout == "zoo":
        return dict(arrays)
    if layout == "timm":
        return timm_to_zoo(arrays)
    if layout == "transformers":
        return transformers_to_zoo(arrays)
    raise WeightsFormatError(f"unknown weights layout {layout!r}; known layouts are {list(LAYOUTS)}")


def cache_root() -> Path:
    return Path(os.environ.get("ZOO_CACHE") or Path.home() / ".cache" / "anynet-zoo")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def converted_path(layout: str, source_sha256: str) -> Path:
    """Where the conversion of a source file with this sha256 is cached."""
    return cache_root() / "converted" / f"{layout}-v{CONVERTER_VERSION}-{source_sha256}.safetensors"
