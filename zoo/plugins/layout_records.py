"""What a weight layout is: the records a plugin returns to teach the zoo another library's weights.

A `WeightLayout` is a whole layout (timm's RegNet, transformers' RegNet, or a plugin's own):
how to recognise its config.json and its tensor names, how to rename its tensors into ours, and
how to read a spec from its config. A `LayoutPart` is a plugin's share of a layout someone else
registered: the tensors of the blocks it brings (a squeeze-excitation block's gate, say).
Both come in through the `zoo_add_weight_layouts` hook, as blocks do through `zoo_add_blocks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from zoo.errors import ComponentContractError


@dataclass(frozen=True)
class LayoutContext:
    """What a layout's functions may need beyond their input: the parts other plugins add to this
    layout, and a way to turn a model name into a spec (the registry, given by the api layer)."""

    parts: tuple[LayoutPart, ...] = ()
    spec_for_name: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class WeightLayout:
    """A weight layout and how to read it.

    recognises_config(config) -> bool: this config.json object announces the layout.
    recognises_keys(keys) -> bool: these tensor names are in the layout (when there is no config).
    to_zoo(arrays, context) -> dict: every tensor renamed and transposed into the zoo's flat keys;
        a tensor it does not know raises WeightsFormatError. None for the zoo's own layout.
    spec_from_config(config, where, context) -> ModelSpec: the architecture the config describes.
    """

    name: str
    recognises_config: Callable[[Mapping[str, Any]], bool]
    recognises_keys: Callable[[set[str]], bool]
    to_zoo: Callable[[Mapping[str, Any], LayoutContext], dict[str, Any]] | None
    spec_from_config: Callable[[Mapping[str, Any], str, LayoutContext], Any]
    description: str = ""
    override: bool = False

    kind: ClassVar[str] = "layout"

    def check(self, plugin: str) -> None:
        _check_record(self, plugin, ("recognises_config", "recognises_keys", "spec_from_config"), ("to_zoo",))


@dataclass(frozen=True)
class LayoutPart:
    """A plugin's share of layout `layout`: the tensors one block variant adds, and how the layout's
    config names that variant.

    map_block(out, rest, theirs, ours): for one block (their key prefix `theirs`, ours `ours`), pop
        the tensors this part knows from `rest` into `out` under our names; leave the rest alone.
    block_from_config(config) -> (block name, options) or None: the block and options a config of
        this layout means when it names this variant (e.g. transformers' layer_type = "y").
    """

    name: str
    layout: str
    map_block: Callable[[dict[str, Any], dict[str, Any], str, str], None]
    block_from_config: Callable[[Mapping[str, Any]], tuple[str, Mapping[str, Any]] | None] | None = None
    description: str = ""
    override: bool = False

    kind: ClassVar[str] = "layout_part"

    def check(self, plugin: str) -> None:
        _check_record(self, plugin, ("map_block",), ("block_from_config",))
        if not isinstance(self.layout, str) or not self.layout:
            raise ComponentContractError(f"layout part {self.name!r} from plugin {plugin!r}: layout must be a name")


def _check_record(record: Any, plugin: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    where = f"{record.kind} {record.name!r} from plugin {plugin!r}"
    if not isinstance(record.name, str) or not record.name:
        raise ComponentContractError(f"{where}: name must be a non-empty string")
    for field_name in required:
        if not callable(getattr(record, field_name)):
            raise ComponentContractError(f"{where}: {field_name} must be callable")
    for field_name in optional:
        value = getattr(record, field_name)
        if value is not None and not callable(value):
            raise ComponentContractError(f"{where}: {field_name} must be callable or None")
