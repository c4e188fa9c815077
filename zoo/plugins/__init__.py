"""Plugins: the hooks, the component records, the pluggy manager and the zoo's own built-ins.

`manager()` is the process-wide manager; code below the api layer never calls it, it is
given the manager (or any object with `get(kind, name)` and `provider(kind, name)`).
"""

from zoo.plugins.plugin_manager import (
    KINDS,
    ModelContribution,
    PluginFailure,
    PluginInfo,
    PluginWarning,
    Registered,
    ZooPluginManager,
    get_component,
    manager,
    register_plugin,
    reset,
    unregister_plugin,
)

__all__ = [
    "KINDS",
    "ModelContribution",
    "PluginFailure",
    "PluginInfo",
    "PluginWarning",
    "Registered",
    "ZooPluginManager",
    "get_component",
    "manager",
    "register_plugin",
    "reset",
    "unregister_plugin",
]
