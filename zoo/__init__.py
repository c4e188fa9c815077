"""anynet-zoo: the AnyNet / RegNet design space as a model zoo for JAX and Flax NNX.

This module is the user's API; `zoo.errors` (every error the zoo raises on purpose) is public
too. Plugin authors import `zoo.plugin_kit`. Everything else may change.
"""

from zoo import errors
from zoo.api import create, download, load
from zoo.data_config import DataConfig, data_config
from zoo.export import export
from zoo.features import FeatureBackbone
from zoo.hub.client import push_to_hub
from zoo.inference import compile_forward
from zoo.nn.anynet import FeatureInfo
from zoo.plugins import get_component, register_plugin, unregister_plugin
from zoo.predict import Prediction, predict
from zoo.registry import get_spec, list_models
from zoo.spec import ModelSpec, StageSpec
from zoo.summary import complexity, layer_summary
from zoo.transform import create_transform
from zoo.version import __version__
from zoo.weights.pretrained import save_pretrained

__all__ = [
    "DataConfig",
    "FeatureBackbone",
    "FeatureInfo",
    "ModelSpec",
    "Prediction",
    "StageSpec",
    "__version__",
    "compile_forward",
    "complexity",
    "create",
    "create_transform",
    "data_config",
    "download",
    "errors",
    "export",
    "get_component",
    "get_spec",
    "layer_summary",
    "list_models",
    "load",
    "predict",
    "push_to_hub",
    "register_plugin",
    "save_pretrained",
    "unregister_plugin",
]
