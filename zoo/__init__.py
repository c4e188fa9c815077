"""anynet-zoo: the AnyNet / RegNet design space as a model zoo for JAX and Flax NNX.

Everything public is imported here; other modules may change.
"""

from zoo.api import create, download, load
from zoo.complexity import complexity
from zoo.components import Block, DesignRule, Head, Stem
from zoo.cost import Cost
from zoo.hookspecs import hookimpl
from zoo.hub.client import push_to_hub
from zoo.inference import compile_forward
from zoo.nn.anynet import AnyNet
from zoo.nn.builtin import ClassifierHead, ResNeXtBlock, SimpleStem, classifier_cost, resnext_cost, simple_stem_cost
from zoo.nn.layers import batch_norm, conv, conv_bias, global_avg_pool, projection, projection_cost
from zoo.plugins import get_component, register_plugin, unregister_plugin
from zoo.registry import get_spec, list_models
from zoo.spec import ModelSpec, StageSpec
from zoo.summary import layer_summary
from zoo.weights.pretrained import save_pretrained

__version__ = "0.1.0"

__all__ = [
    "compile_forward",
    "conv_bias",
    "projection",
    "projection_cost",
    "AnyNet",
    "Block",
    "ClassifierHead",
    "Cost",
    "DesignRule",
    "Head",
    "ModelSpec",
    "ResNeXtBlock",
    "SimpleStem",
    "StageSpec",
    "Stem",
    "batch_norm",
    "classifier_cost",
    "complexity",
    "conv",
    "create",
    "get_component",
    "get_spec",
    "global_avg_pool",
    "hookimpl",
    "layer_summary",
    "list_models",
    "load",
    "download",
    "push_to_hub",
    "save_pretrained",
    "register_plugin",
    "resnext_cost",
    "simple_stem_cost",
    "unregister_plugin",
]
