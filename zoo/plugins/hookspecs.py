"""The hooks a plugin implements. Each docstring is that hook's contract.

A plugin is any module or object with functions marked `@zoo.plugin_kit.hookimpl` whose names are
the hooks below. It is found through the entry-point group `zoo.plugins`, through the
ZOO_PLUGINS environment variable (comma-separated module names), or registered at run
time with `zoo.register_plugin(obj)`. The zoo's own stems, blocks, heads and design rules
come in through these same hooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from zoo.plugins.components import Block, DesignRule, Head, Stem
    from zoo.plugins.layout_records import LayoutPart, WeightLayout

PROJECT = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_add_stems() -> Iterable[Stem]:  # type: ignore[empty-body]
    """Return an iterable of `zoo.plugin_kit.Stem` records.

    A stem's build(in_channels, out_channels, options, *, rngs) returns an NNX module mapping
    (N, H, W, in_channels) to (N, H', W', out_channels); its complexity(cost, in_channels,
    out_channels, options) returns the Cost after it.
    """


@hookspec
def zoo_add_blocks() -> Iterable[Block]:  # type: ignore[empty-body]
    """Return an iterable of `zoo.plugin_kit.Block` records.

    A block's build(in_channels, out_channels, stride, group_width, bottleneck_ratio, options,
    *, rngs) returns an NNX module mapping (N, H, W, in_channels) to
    (N, ceil(H/stride), ceil(W/stride), out_channels); its complexity(cost, ...) takes the same
    arguments (without rngs) after the Cost and returns the Cost after the block. When the spec sets
    `drop_path_rate`, the block's options carry its own share of it (rising over the blocks): a block
    built on `kit.Residual` applies it in `init_skip`; another may add `kit.drop_path(options, rngs=rngs)`.
    """


@hookspec
def zoo_add_heads() -> Iterable[Head]:  # type: ignore[empty-body]
    """Return an iterable of `zoo.plugin_kit.Head` records.

    A head's build(in_channels, num_classes, options, *, rngs) returns an NNX module mapping
    (N, H, W, in_channels) to logits (N, num_classes); its complexity(cost, in_channels,
    num_classes, options) returns the Cost after it. `kit.dropout(options, rngs=rngs)` is the dropout
    the spec's `drop_rate` asks for before the classifier (None when it is 0).
    """


@hookspec
def zoo_add_design_rules() -> Iterable[DesignRule]:  # type: ignore[empty-body]
    """Return an iterable of `zoo.plugin_kit.DesignRule` records.

    A rule's expand(params: dict) returns a list of `zoo.StageSpec`; registry entries name the
    rule in their `design` table (`design = { rule = "regnet", w0 = 24, ... }`). Its optional
    sample(rng) takes a numpy Generator or int seed and returns one model's params for expand.
    """


@hookspec
def zoo_add_models() -> Mapping[str, Mapping[str, Any]] | str | Path:  # type: ignore[empty-body]
    """Return extra named models: a mapping of name -> entry table, or a path to a TOML file.

    Entries have the same schema as the tables under [models] in the zoo's registry.toml.
    A TOML file may hold [defaults] and [models] tables as registry.toml does.
    """


@hookspec
def zoo_add_weight_layouts() -> Iterable[WeightLayout]:  # type: ignore[empty-body]
    """Return an iterable of `zoo.plugin_kit.WeightLayout` records: layouts other libraries write.

    A layout's recognises_config(config) and recognises_keys(keys) say whether a config.json
    object or a file's tensor names are in it (exactly one layout may claim a file); its
    to_zoo(arrays, context) returns every tensor renamed and transposed into the zoo's flat NHWC
    keys, raising WeightsFormatError on a tensor it does not know; its spec_from_config(config,
    where, context) returns the ModelSpec the config describes. Pretrained tags name a layout in
    their `layout` field. The zoo's own, timm's and transformers' RegNet layouts come this way.
    """


@hookspec
def zoo_add_layout_parts() -> Iterable[LayoutPart]:  # type: ignore[empty-body]
    """Return an iterable of `zoo.plugin_kit.LayoutPart` records: a plugin's share of a layout.

    A part names its `layout`; that layout's to_zoo calls part.map_block(out, rest, theirs,
    ours) for every block, and the part pops the tensors its block variant adds from `rest` into
    `out`. Its optional block_from_config(config) returns the (block, options) a config of that
    layout means, or None. A plugin that brings a block maps that block's extra tensors this way.
    """
