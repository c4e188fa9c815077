"""Weight layouts: which library wrote a file, and its tensors renamed into ours.

Layouts are components registered through the `zoo_add_weight_layouts` hook (the zoo's own,
timm's and transformers' RegNet come from zoo.weights.layouts.builtin, registered like any
plugin); plugins add parts to them through `zoo_add_layout_parts`. A `LayoutSet` is the table
the api layer hands down. Converted files are cached under $ZOO_CACHE (default
~/.cache/anynet-zoo)/converted, keyed by the source file's sha256, so a conversion runs once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import WeightsFormatError, did_you_mean
from zoo.plugins.layout_records import LayoutContext, LayoutPart, WeightLayout
from zoo.spec import ModelSpec

ZOO_LAYOUT = "zoo"
CONVERTER_VERSION = "2"


@dataclass(frozen=True)
class LayoutSet:
    """The weight layouts known now, the parts plugins add to them, and the registry's name -> spec."""

    layouts: Mapping[str, WeightLayout]
    parts: tuple[LayoutPart, ...] = ()
    spec_for_name: Callable[[str], ModelSpec] | None = field(default=None, compare=False)

    def get(self, name: str, where: str) -> WeightLayout:
        if name not in self.layouts:
            raise WeightsFormatError(
                f"{where}: unknown weights layout {name!r}.{did_you_mean(name, self.layouts)} Known layouts: "
                f"{sorted(self.layouts)}; a plugin adds one through the zoo_add_weight_layouts hook"
            )
        return self.layouts[name]

    def context(self, layout: WeightLayout) -> LayoutContext:
        return LayoutContext(tuple(p for p in self.parts if p.layout == layout.name), self.spec_for_name)

    def from_config(self, config: Mapping[str, Any] | None, where: str) -> WeightLayout | None:
        """The layout a config.json announces, or None when there is no config."""
        if config is None:
            return None
        return self._one(
            [layout for layout in self.layouts.values() if layout.recognises_config(config)], where, "config.json"
        )

    def from_keys(self, keys: set[str], where: str) -> WeightLayout:
        """The layout whose tensor names these are (for a file without a config.json)."""
        return self._one(
            [layout for layout in self.layouts.values() if layout.recognises_keys(keys)],
            where,
            "tensor names",
            sorted(keys)[:5],
        )

    def _one(self, hits: list[WeightLayout], where: str, what: str, sample: Any = None) -> WeightLayout:
        if len(hits) == 1:
            return hits[0]
        seen = f" (first keys: {sample})" if sample is not None else ""
        if not hits:
            raise WeightsFormatError(
                f"{where}: no known weights layout recognises these {what}{seen}; known layouts: "
                f"{sorted(self.layouts)}. `zoo plugins` shows which plugins are loaded"
            )
        raise WeightsFormatError(
            f"{where}: several weights layouts claim these {what}: {sorted(h.name for h in hits)}; "
            "uninstall or unregister the plugin that should not"
        )

    def to_zoo(self, arrays: Mapping[str, np.ndarray], layout: WeightLayout) -> dict[str, np.ndarray]:
        """Tensors in `layout` renamed and transposed into ours."""
        if layout.to_zoo is None:
            return dict(arrays)
        return layout.to_zoo(arrays, self.context(layout))

    def spec_from_config(
        self, config: Mapping[str, Any] | None, where: str
    ) -> tuple[ModelSpec | None, WeightLayout | None]:
        """(spec, layout) a config.json object describes; (None, None) when there is no config."""
        layout = self.from_config(config, where)
        if layout is None or config is None:
            return None, None
        return layout.spec_from_config(config, where, self.context(layout)), layout


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
