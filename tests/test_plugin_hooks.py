"""Which pluggy semantics the zoo keeps (docs/plugins.md): real pluggy hooks, collected one
implementation at a time in get_hookimpls() order, wrappers refused, ZOO_DISABLE_PLUGINS like
pytest's `-p no:NAME`, and table rows typed as Registered(record, plugin)."""

from __future__ import annotations

import pytest

import zoo
from zoo import plugin_kit as kit
from zoo.errors import PluginError, UnknownComponentError
from zoo.plugins import Registered, manager


def blocks(*names: str, **marks):
    class Plugin:
        @kit.hookimpl(**marks)
        def zoo_add_blocks(self):
            return [kit.Block(n, kit.ResNeXtBlock, kit.resnext_cost) for n in names]

    return Plugin()


def test_rows_are_registered_records_with_their_plugin(fresh_plugins):
    row = manager().tables()["block"]["resnext"]
    assert isinstance(row, Registered) and row.plugin == "zoo.builtin" and row.record.name == "resnext"
    zoo.register_plugin(blocks("hooked_a"), "hooks-a")
    assert manager().tables()["block"]["hooked_a"] == Registered(manager().get("block", "hooked_a"), "hooks-a")


def test_the_hooks_are_pluggy_hooks_callable_as_any(fresh_plugins):
    zoo.register_plugin(blocks("hooked_b"), "hooks-b")
    called = [record.name for result in manager().pm.hook.zoo_add_blocks() for record in result]
    assert {"resnext", "hooked_b"} <= set(called)
    assert called.index("hooked_b") < called.index("resnext")  # pluggy calls the newest first


def test_collection_follows_get_hookimpls_order_tryfirst_last(fresh_plugins):
    zoo.register_plugin(blocks("first_block", tryfirst=True), "hooks-first")
    zoo.register_plugin(blocks("plain_block"), "hooks-plain")
    zoo.register_plugin(blocks("last_block", trylast=True), "hooks-last")
    order = list(manager().tables()["block"])
    # get_hookimpls(): trylast first, then registration order, tryfirst last (pluggy's call order reversed)
    assert order.index("last_block") < order.index("resnext") < order.index("plain_block") < order.index("first_block")
    impls = [i.plugin_name for i in manager().pm.hook.zoo_add_blocks.get_hookimpls()]
    assert [p for p in impls if p.startswith("hooks-")] == ["hooks-last", "hooks-plain", "hooks-first"]


@pytest.mark.parametrize("marks", [{"wrapper": True}, {"hookwrapper": True}])
def test_a_wrapper_on_a_collection_hook_is_refused(fresh_plugins, marks):
    class Wrapping:
        @kit.hookimpl(**marks)
        def zoo_add_blocks(self):
            yield

    with pytest.raises(PluginError, match="wraps hook"):
        zoo.register_plugin(Wrapping(), "wrapping")
    assert "wrapping" not in manager().infos


def test_zoo_disable_plugins_blocks_by_name(fresh_plugins, monkeypatch):
    assert manager().provider("block", "resnet_basic") == "resnet"  # zoo-resnet, through its entry point
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", " resnet , hooks-c")
    zoo.plugins.reset()
    assert "resnet" not in manager().infos and "se" in manager().infos
    with pytest.raises(UnknownComponentError, match="no block named 'resnet_basic'"):
        zoo.get_component("block", "resnet_basic")
    with pytest.raises(PluginError, match="blocked by ZOO_DISABLE_PLUGINS"):
        zoo.register_plugin(blocks("hooked_c"), "hooks-c")
    monkeypatch.setenv("ZOO_PLUGINS", "zoo_resnet")  # a blocked plugin stays out by module name too
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "resnet,zoo_resnet")
    zoo.plugins.reset()
    assert not {"resnet", "zoo_resnet"} & set(manager().infos)
