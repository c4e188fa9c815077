"""The hooks a plugin implements. Each docstring is that hook's contract.

A plugin is any module or object with functions marked `@zoo.plugin_kit.hookimpl` whose names are
the hooks below. It is found through the entry-point group `zoo.plugins`, through the
ZOO_PLUGINS environment variable (comma-separated module names), or registered at run
time with `zoo.register_plugin(obj)`. The zoo's own stems, blocks, heads and rules come
in through these same hooks.
"""

from __future__ import annotations

import pluggy

PROJECT = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_add_stems():
    """Return an iterable of `zoo.plugin_kit.Stem` records.

    A stem's build(in_channels, out_channels, options, *, rngs) returns an NNX module mapping
    (N, H, W, in_channels) to (N, H', W', out_channels); its complexity(cost, in_channels,
    out_channels, options) returns the Cost after it.
    """


@hookspec
def zoo_add_blocks():
    """Return an iterable of `zoo.plugin_kit.Block` records.

    A block's build(in_channels, out_channels, stride, group_width, bottleneck_ratio, options,
    *, rngs) returns an NNX module mapping (N, H, W, in_channels) to
    (N, ceil(H/stride), ceil(W/stride), out_channels); its complexity(cost, ...) takes the same
    arguments (without rngs) after the Cost and returns the Cost after the block.
    """


@hookspec
def zoo_add_heads():
    """Return an iterable of `zoo.plugin_kit.Head` records.

    A head's build(in_channels, num_classes, options, *, rngs) returns an NNX module mapping
    (N, H, W, in_channels) to logits (N, num_classes); its complexity(cost, in_channels,
    num_classes, options) returns the Cost after it.
    """


@hookspec
def zoo_add_design_rules():
    """Return an iterable of `zoo.plugin_kit.DesignRule` records.

    A rule's expand(params: dict) returns a list of `zoo.StageSpec`; registry entries name the
    rule in their `design` table (`design = { rule = "regnet", w0 = 24, ... }`). Its optional
    sample(rng) takes a numpy Generator or int seed and returns one model's params for expand.
    """


@hookspec
def zoo_add_models():
    """Return extra named models: a mapping of name -> entry table, or a path to a TOML file.

    Entries have the same schema as the tables under [models] in the zoo's registry.toml.
    A TOML file may hold [defaults] and [models] tables as registry.toml does.
    """
