"""Everything a plugin author needs, in one import: `from zoo import plugin_kit as kit`.

The hook marker, the component records a hook returns, the Cost a component's complexity
function updates, the layer helpers the built-ins are made of, the weight-layout records and the
PyTorch-tensor helpers a layout's key mapping uses, and the built-in modules a
plugin may extend (zoo-se wraps ResNeXtBlock). Users of models need only `zoo`; errors a
plugin raises come from `zoo.errors`. The hooks' contracts are in zoo.plugins.hookspecs.
"""

from zoo.cost import Cost
from zoo.nn.builtin import (
    CifarStem,
    ClassifierHead,
    Residual,
    ResNeXtBlock,
    SimpleStem,
    cifar_stem_cost,
    classifier_cost,
    resnext_cost,
    simple_stem_cost,
)
from zoo.nn.drop import drop_path, dropout
from zoo.nn.layers import batch_norm, conv, conv_bias, global_avg_pool, projection, projection_cost
from zoo.plugins.components import Block, Component, DesignRule, Head, Stem
from zoo.plugins.hookspecs import hookimpl
from zoo.plugins.layout_records import LayoutContext, LayoutPart, WeightLayout
from zoo.spec import ModelSpec, StageSpec, bottleneck_width
from zoo.weights.layouts.torch_layout import put_bn, put_conv, put_linear

__all__ = [
    "Block",
    "CifarStem",
    "ClassifierHead",
    "Component",
    "Cost",
    "DesignRule",
    "Head",
    "LayoutContext",
    "LayoutPart",
    "ModelSpec",
    "ResNeXtBlock",
    "Residual",
    "SimpleStem",
    "StageSpec",
    "Stem",
    "WeightLayout",
    "batch_norm",
    "bottleneck_width",
    "cifar_stem_cost",
    "classifier_cost",
    "conv",
    "conv_bias",
    "drop_path",
    "dropout",
    "global_avg_pool",
    "hookimpl",
    "projection",
    "projection_cost",
    "put_bn",
    "put_conv",
    "put_linear",
    "resnext_cost",
    "simple_stem_cost",
]
