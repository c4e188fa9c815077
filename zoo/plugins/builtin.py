"""The zoo's own stems, blocks, heads and design rules, registered through the plugin hooks.

The manager loads this module first, exactly as it loads an installed plugin; the modules
themselves live in zoo.nn.builtin and the rules in zoo.design.
"""

from __future__ import annotations

from zoo.design.anynet import expand_anynet
from zoo.design.regnet import expand_regnet
from zoo.design.sampling import sample_regnet
from zoo.nn.builtin import (
    CifarStem,
    ClassifierHead,
    ResNeXtBlock,
    SimpleStem,
    cifar_stem_cost,
    classifier_cost,
    resnext_cost,
    simple_stem_cost,
)
from zoo.plugins.components import Block, DesignRule, Head, Stem
from zoo.plugins.hookspecs import hookimpl


@hookimpl
def zoo_add_stems():
    return [
        Stem("simple", SimpleStem, simple_stem_cost, "3x3 stride-2 conv, BN, ReLU"),
        Stem("cifar", CifarStem, cifar_stem_cost, "3x3 stride-1 conv, BN, ReLU (pycls's CIFAR stem)"),
    ]


@hookimpl
def zoo_add_blocks():
    return [Block("resnext", ResNeXtBlock, resnext_cost, "ResNeXt bottleneck block (X block)")]


@hookimpl
def zoo_add_heads():
    return [Head("classifier", ClassifierHead, classifier_cost, "global average pool + linear")]


@hookimpl
def zoo_add_design_rules():
    return [
        DesignRule("anynet", expand_anynet, "explicit stages: [depth, width, group_width, bot_mul]"),
        DesignRule(
            "regnet",
            expand_regnet,
            "quantized linear widths (w0, wa, wm, depth, group_w, bot_mul, q)",
            sample=sample_regnet,
        ),
    ]
