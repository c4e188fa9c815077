"""anynet-zoo: the AnyNet / RegNet design space as a model zoo for JAX and Flax NNX.

This module is the user's API; `zoo.errors` (every error the zoo raises on purpose) is public
too. Plugin authors import `zoo.plugin_kit`. Everything else may change.
"""

# Names resolve on first use (PEP 562), so `import zoo` and the `zoo` command's start-up load no jax,
# flax or tfds until something that needs them is touched; type checkers read the imports below.
from typing import TYPE_CHECKING

from zoo.lazy import lazy_exports

if TYPE_CHECKING:
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
    from zoo.registry import get_spec, list_models, list_pretrained
    from zoo.spec import ModelSpec, StageSpec
    from zoo.summary import complexity, layer_summary
    from zoo.transform import create_transform
    from zoo.tuning import tune
    from zoo.version import __version__
    from zoo.weights.pretrained import save_pretrained

_EXPORTS = {
    "errors": "zoo.errors",
    "create": "zoo.api",
    "download": "zoo.api",
    "load": "zoo.api",
    "DataConfig": "zoo.data_config",
    "data_config": "zoo.data_config",
    "export": "zoo.export",
    "FeatureBackbone": "zoo.features",
    "push_to_hub": "zoo.hub.client",
    "compile_forward": "zoo.inference",
    "FeatureInfo": "zoo.nn.anynet",
    "get_component": "zoo.plugins",
    "register_plugin": "zoo.plugins",
    "unregister_plugin": "zoo.plugins",
    "Prediction": "zoo.predict",
    "predict": "zoo.predict",
    "get_spec": "zoo.registry",
    "list_models": "zoo.registry",
    "list_pretrained": "zoo.registry",
    "ModelSpec": "zoo.spec",
    "StageSpec": "zoo.spec",
    "complexity": "zoo.summary",
    "layer_summary": "zoo.summary",
    "create_transform": "zoo.transform",
    "tune": "zoo.tuning",
    "__version__": "zoo.version",
    "save_pretrained": "zoo.weights.pretrained",
}
__getattr__ = lazy_exports(__name__, _EXPORTS, modules=frozenset({"errors"}))

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
    "list_pretrained",
    "load",
    "predict",
    "push_to_hub",
    "register_plugin",
    "save_pretrained",
    "tune",
    "unregister_plugin",
]
