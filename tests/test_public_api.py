"""Two levels of public API: `zoo` for users, `zoo.plugin_kit` for plugin authors, `zoo.errors` for both."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import zoo
from zoo import plugin_kit

ROOT = Path(__file__).resolve().parents[1]

USER_API = {
    "ModelSpec",
    "StageSpec",
    "compile_forward",
    "complexity",
    "create",
    "download",
    "errors",
    "get_component",
    "get_spec",
    "layer_summary",
    "list_models",
    "list_pretrained",
    "load",
    "push_to_hub",
    "register_plugin",
    "save_pretrained",
    "unregister_plugin",
}
AUTHOR_KIT = {"hookimpl", "Block", "Stem", "Head", "DesignRule", "Cost", "conv", "batch_norm", "projection"}


def test_the_user_api_is_sorted_and_complete():
    assert zoo.__all__ == sorted(zoo.__all__)
    assert USER_API <= set(zoo.__all__)
    assert all(hasattr(zoo, name) for name in zoo.__all__)


def test_the_plugin_kit_is_its_own_module_and_not_in_the_user_api():
    assert plugin_kit.__all__ == sorted(plugin_kit.__all__)
    assert AUTHOR_KIT <= set(plugin_kit.__all__)
    assert all(hasattr(plugin_kit, name) for name in plugin_kit.__all__)
    assert not AUTHOR_KIT & set(zoo.__all__)


def test_the_version_comes_from_the_package_metadata():
    assert zoo.__version__ == importlib.metadata.version("anynet-zoo")


def test_first_party_plugins_import_only_the_public_modules():
    allowed = {"zoo", "zoo.plugin_kit", "zoo.errors"}
    sources = sorted((ROOT / "plugins").glob("*/zoo_*/*.py"))
    assert sources
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zoo":
                if node.module == "zoo":  # the user's API, the kit, or the errors
                    names = {a.name for a in node.names}
                    assert names <= set(zoo.__all__) | {"plugin_kit"}, f"{source}: from zoo import {names}"
                else:
                    assert node.module in allowed, f"{source}: from {node.module} import ..."
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "zoo":
                        assert alias.name in allowed, f"{source}: import {alias.name}"
