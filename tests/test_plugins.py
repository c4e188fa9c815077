"""The plugin mechanism: discovery, conflicts, failure isolation, contracts and switches.

Installed plugins are simulated faithfully and fast: each test writes a module and its
`*.dist-info` (METADATA + entry_points.txt, what pip writes) into a directory on sys.path,
so importlib.metadata discovers the entry points for real. tests/test_plugins_installed.py
does the same with pip itself, in fresh interpreters.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from flax import nnx

import zoo
import zoo.plugins
from zoo import plugin_kit as kit
from zoo.cli import main as zoo_cli
from zoo.errors import (
    ComponentContractError,
    PluginConflictError,
    PluginError,
    RegistryError,
    UnknownComponentError,
    UnknownModelError,
)
from zoo.plugins import PluginWarning

# -- a tiny block, used both by runtime plugins here and by the simulated distributions --
TINY_BLOCK = """
import jax
from flax import nnx
from zoo import plugin_kit as kit


class TinyBlock(nnx.Module):
    def __init__(self, in_channels, out_channels, stride, group_width, bottleneck_ratio, options, *, rngs):
        self.conv = kit.conv(in_channels, out_channels, 3, stride=stride, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return nnx.relu(self.conv(x))


def tiny_cost(cost, in_channels, out_channels, stride, group_width, bottleneck_ratio, options):
    return cost.conv(in_channels, out_channels, 3, stride=stride)
"""
namespace: dict = {}
exec(TINY_BLOCK, namespace)
TinyBlock, tiny_cost = namespace["TinyBlock"], namespace["tiny_cost"]

TINY_NET = {
    "block": "tiny",
    "stem_width": 4,
    "num_classes": 3,
    "input_size": 16,
    "stages": [{"depth": 1, "width": 4, "group_width": 4}, {"depth": 2, "width": 8, "group_width": 8}],
}


def expected_tiny_net_cost() -> dict[str, int]:
    cost = kit.Cost(16, 16).conv(3, 4, 3, stride=2).norm(4)  # the built-in `simple` stem
    cost = cost.conv(4, 4, 3, stride=2).conv(4, 8, 3, stride=2).conv(8, 8, 3)
    return cost.global_pool().linear(8, 3).totals()


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean plugin world: no plugin env vars, a fresh manager, and a site dir on sys.path."""
    for var in ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = set(sys.modules)
    zoo.plugins.reset()
    yield site
    zoo.plugins.reset()
    for name in set(sys.modules) - before:
        if name.startswith("zplug_"):
            del sys.modules[name]


def install(site: Path, dist: str, module: str, source: str, *, entry_point: str | None = None) -> None:
    """Write `module` and a dist-info declaring it in the `zoo.plugins` entry-point group, as pip would."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[zoo.plugins]\n{entry_point or module} = {module}\n")
    importlib.invalidate_caches()


def blocks_plugin(name: str = "tiny", **record: object) -> str:
    fields = ", ".join(f"{k}={v}" for k, v in record.items())
    return (
        TINY_BLOCK
        + f"""
@kit.hookimpl
def zoo_add_blocks():
    return [kit.Block({name!r}, TinyBlock, tiny_cost{", " + fields if fields else ""})]
"""
    )


def plugin_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]


def loaded() -> dict:
    manager = zoo.plugins.manager()
    manager.tables()
    return manager.infos


# -- discovery ---------------------------------------------------------------------------
def test_an_installed_plugin_block_is_usable_by_name_from_its_registry_entry(env):
    install(
        env,
        "zoo-tiny",
        "zplug_tiny",
        blocks_plugin() + f"\n@kit.hookimpl\ndef zoo_add_models():\n    return {{'tiny_net': {TINY_NET!r}}}\n",
    )
    assert loaded()["zplug_tiny"].distribution == "zoo-tiny"
    assert zoo.plugins.manager().infos["zplug_tiny"].version == "1.2.3"
    assert zoo.get_spec("tiny_net").block == "tiny"
    assert zoo.complexity("tiny_net") == expected_tiny_net_cost()
    assert "tiny_net" in zoo.list_models("tiny_*")


def test_an_installed_plugin_block_is_usable_from_a_spec_and_runs(env):
    install(env, "zoo-tiny", "zplug_tiny", blocks_plugin())
    spec = zoo.ModelSpec.from_dict({k: v for k, v in TINY_NET.items()})
    assert zoo.complexity(spec) == expected_tiny_net_cost()
    model = zoo.create(spec)
    model.eval()
    assert model(nnx.Rngs(0).normal((2, 16, 16, 3))).shape == (2, 3)
    assert isinstance(model.stages[1].blocks[0], sys.modules["zplug_tiny"].TinyBlock)


def test_a_plugin_brings_its_models_with_its_block(env, monkeypatch):
    monkeypatch.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    zoo.plugins.reset()
    with pytest.raises(UnknownModelError, match=r"regnety_032.*pip install ./plugins/zoo-se"):
        zoo.complexity("regnety_032")
    monkeypatch.setenv("ZOO_PLUGINS", "zoo_se")
    zoo.plugins.reset()
    assert zoo.complexity("regnety_032")["params"] == 19_436_338  # the paper's RegNetY-3.2GF


def test_zoo_plugins_names_comma_separated_modules(env, monkeypatch):
    install(env, "zoo-a", "zplug_a", blocks_plugin("block_a"))
    install(env, "zoo-b", "zplug_b", blocks_plugin("block_b"))
    monkeypatch.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("ZOO_PLUGINS", " zplug_a , zplug_b,")
    infos = loaded()
    assert infos["zplug_a"].distribution is None and infos["zplug_b"].contributes == {"block": ["block_b"]}


def test_disabled_autoload_skips_entry_points(env, monkeypatch):
    install(env, "zoo-tiny", "zplug_tiny", blocks_plugin())
    monkeypatch.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "zplug_tiny" not in loaded()
    assert set(loaded()) == {"zoo.builtin", "zoo.builtin_layouts"}
    with pytest.raises(UnknownComponentError, match="no block named 'tiny'"):
        zoo.get_component("block", "tiny")


def test_a_module_named_in_zoo_plugins_and_installed_loads_once(env, monkeypatch):
    install(env, "zoo-tiny", "zplug_tiny", blocks_plugin())
    monkeypatch.setenv("ZOO_PLUGINS", "zplug_tiny")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        infos = loaded()
    assert plugin_warnings(caught) == []
    assert [n for n in infos if "tiny" in n] == ["zplug_tiny"]


# -- conflicts ---------------------------------------------------------------------------
def test_two_plugins_giving_one_block_name_conflict_naming_both(env):
    install(env, "zoo-a", "zplug_a", blocks_plugin("tiny"))
    install(env, "zoo-b", "zplug_b", blocks_plugin("tiny"))
    with pytest.raises(PluginConflictError) as err:
        zoo.complexity(zoo.ModelSpec.from_dict(TINY_NET))
    assert all(s in str(err.value) for s in ("block 'tiny'", "'zplug_a'", "'zplug_b'", "override"))


def test_two_plugins_giving_one_model_name_conflict_naming_both(env):
    models = f"from zoo import plugin_kit as kit\n@kit.hookimpl\ndef zoo_add_models():\n    return {{'tiny_net': {TINY_NET!r}}}\n"
    install(env, "zoo-a", "zplug_a", models)
    install(env, "zoo-b", "zplug_b", models)
    with pytest.raises(PluginConflictError, match="model 'tiny_net' is contributed by both plugin") as err:
        zoo.list_models()
    assert "'zplug_a'" in str(err.value) and "'zplug_b'" in str(err.value)


def test_a_plugin_model_cannot_shadow_a_core_model_unless_it_overrides(env):
    class Shadow:
        @kit.hookimpl
        def zoo_add_models(self):
            return {"regnetx_002": {**TINY_NET, "block": "resnext"}}

    zoo.register_plugin(Shadow(), name="shadow")
    with pytest.raises(
        PluginConflictError, match="'regnetx_002' is in the core registry and also contributed by plugin 'shadow'"
    ):
        zoo.get_spec("regnetx_002")


def test_an_override_replaces_the_other_contribution_in_either_order(env):
    install(env, "zoo-a", "zplug_a", blocks_plugin("resnext", override=True))
    assert zoo.plugins.manager().provider("block", "resnext") == "zplug_a"

    class Late:
        @kit.hookimpl
        def zoo_add_blocks(self):
            return [kit.Block("tiny", TinyBlock, tiny_cost)]

    install(env, "zoo-b", "zplug_b", blocks_plugin("tiny", override=True))
    zoo.plugins.reset()
    zoo.register_plugin(Late(), name="late")  # registered after the override: the override still wins
    assert zoo.plugins.manager().provider("block", "tiny") == "zplug_b"


def test_runtime_registration_of_a_clashing_plugin_is_refused_and_rolled_back(env):
    class Copy:
        @kit.hookimpl
        def zoo_add_blocks(self):
            return [kit.Block("resnext", TinyBlock, tiny_cost)]

    with pytest.raises(PluginConflictError, match="'zoo.builtin' and plugin 'copy'"):
        zoo.register_plugin(Copy(), name="copy")
    assert "copy" not in loaded()
    assert zoo.complexity("regnetx_002")["params"] == 2_684_792


def test_two_distributions_with_one_entry_point_name_warn_and_keep_the_first(env):
    install(env, "zoo-a", "zplug_a", blocks_plugin("block_a"), entry_point="same")
    install(env, "zoo-b", "zplug_b", blocks_plugin("block_b"), entry_point="same")
    with pytest.warns(PluginWarning, match=r"entry point name 'same' is already taken by distribution 'zoo-"):
        infos = loaded()
    assert infos["same"].distribution in {"zoo-a", "zoo-b"}


# -- failures are isolated ---------------------------------------------------------------
def test_an_installed_plugin_that_fails_to_import_is_skipped_and_reported(env, capsys):
    install(env, "zoo-broken", "zplug_broken", "import not_a_module_anywhere\n")
    install(env, "zoo-tiny", "zplug_tiny", blocks_plugin())
    with pytest.warns(PluginWarning, match=r"'zplug_broken' skipped: import failed: ModuleNotFoundError"):
        infos = loaded()
    assert "zplug_broken" not in infos and "zplug_tiny" in infos
    assert zoo.complexity(zoo.ModelSpec.from_dict(TINY_NET)) == expected_tiny_net_cost()
    assert zoo_cli(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "FAILED zplug_broken: import failed: ModuleNotFoundError: No module named 'not_a_module_anywhere'" in out
    assert "zplug_tiny  [zoo-tiny 1.2.3]" in out


def test_a_missing_zoo_plugins_module_is_skipped_and_reported(env, monkeypatch):
    monkeypatch.setenv("ZOO_PLUGINS", "zplug_nowhere")
    with pytest.warns(PluginWarning, match=r"'zplug_nowhere' skipped: import failed \(from ZOO_PLUGINS\)"):
        loaded()
    assert zoo.plugins.manager().failures[0].name == "zplug_nowhere"
    assert zoo.complexity("regnetx_002")["params"] == 2_684_792


def test_a_plugin_whose_hook_raises_is_dropped_whole_and_the_zoo_works(env):
    install(
        env,
        "zoo-half",
        "zplug_half",
        """
        from zoo import plugin_kit as kit
        from zoo.plugin_kit import SimpleStem, simple_stem_cost

        @kit.hookimpl
        def zoo_add_stems():
            return [kit.Stem("half_stem", SimpleStem, simple_stem_cost)]

        @kit.hookimpl
        def zoo_add_blocks():
            raise RuntimeError("the block table is corrupt")
    """,
    )
    with pytest.warns(
        PluginWarning, match="'zplug_half' skipped: hook zoo_add_blocks raised RuntimeError: the block table is corrupt"
    ):
        infos = loaded()
    assert "zplug_half" not in infos
    with pytest.raises(UnknownComponentError):  # its stem went with it: no half-loaded plugin
        zoo.get_component("stem", "half_stem")
    assert zoo.complexity("regnetx_002")["params"] == 2_684_792


def test_a_runtime_plugin_whose_hook_raises_is_refused(env):
    class Raises:
        @kit.hookimpl
        def zoo_add_heads(self):
            raise ValueError("no heads today")

    with pytest.raises(PluginError, match="plugin 'raises': hook zoo_add_heads raised ValueError: no heads today"):
        zoo.register_plugin(Raises(), name="raises")
    assert "raises" not in loaded()


# -- contracts ---------------------------------------------------------------------------
def bad_build(in_channels, out_channels, *, rngs):
    return TinyBlock(in_channels, out_channels, 1, 1, 1.0, {}, rngs=rngs)


def bad_cost(cost, in_channels):
    return cost


BROKEN_BLOCKS = {
    "build-signature": (
        lambda: [kit.Block("tiny", bad_build, tiny_cost)],
        r"block 'tiny' from plugin 'bad': build must accept \(in_channels, out_channels, stride",
    ),
    "complexity-signature": (
        lambda: [kit.Block("tiny", TinyBlock, bad_cost)],
        r"block 'tiny' from plugin 'bad': complexity must accept \(cost, in_channels",
    ),
    "build-not-callable": (
        lambda: [kit.Block("tiny", "TinyBlock", tiny_cost)],
        "block 'tiny' from plugin 'bad': build must be callable, got str",
    ),
    "empty-name": (lambda: [kit.Block("", TinyBlock, tiny_cost)], "name must be a non-empty string"),
    "wrong-record": (
        lambda: [kit.Stem("tiny", TinyBlock, tiny_cost)],
        "plugin 'bad': zoo_add_blocks must return zoo.plugin_kit.Block records, got Stem",
    ),
    "not-iterable": (
        lambda: 42,
        "plugin 'bad': zoo_add_blocks must return an iterable of zoo.plugin_kit.Block records, got int",
    ),
}


@pytest.mark.parametrize(("records", "message"), BROKEN_BLOCKS.values(), ids=BROKEN_BLOCKS.keys())
def test_a_block_that_breaks_its_contract_is_refused_naming_the_plugin(env, records, message):
    class Bad:
        @kit.hookimpl
        def zoo_add_blocks(self):
            return records()

    with pytest.raises(ComponentContractError, match=message):
        zoo.register_plugin(Bad(), name="bad")
    assert "bad" not in loaded()


def test_a_design_rule_sampler_must_take_an_rng(env):
    class BadRule:
        @kit.hookimpl
        def zoo_add_design_rules(self):
            return [kit.DesignRule("bad_rule", lambda params: [], sample=lambda: {})]

    with pytest.raises(
        ComponentContractError, match=r"design rule 'bad_rule' from plugin 'bad-rule': sample must accept \(rng\)"
    ):
        zoo.register_plugin(BadRule(), name="bad-rule")


def test_an_installed_plugin_that_breaks_its_contract_is_skipped_with_a_warning(env):
    install(
        env,
        "zoo-bad",
        "zplug_bad",
        """
        from zoo import plugin_kit as kit

        @kit.hookimpl
        def zoo_add_heads():
            return [kit.Head("bad_head", lambda in_channels: None, lambda cost: cost)]
    """,
    )
    with pytest.warns(
        PluginWarning, match=r"'zplug_bad' skipped: head 'bad_head' from plugin 'zplug_bad': build must accept"
    ):
        assert "zplug_bad" not in loaded()


def test_a_build_that_returns_no_module_fails_naming_the_plugin(env):
    class NoModule:
        @kit.hookimpl
        def zoo_add_blocks(self):
            return [kit.Block("tiny", lambda i, o, s, g, b, options, *, rngs: "not a module", tiny_cost)]

    zoo.register_plugin(NoModule(), name="no-module")
    with pytest.raises(
        ComponentContractError, match="block 'tiny' from plugin 'no-module' must build a flax.nnx.Module, got str"
    ):
        zoo.create(zoo.ModelSpec.from_dict(TINY_NET))


def test_a_complexity_that_returns_no_cost_fails_naming_the_plugin(env):
    class NoCost:
        @kit.hookimpl
        def zoo_add_blocks(self):
            return [kit.Block("tiny", TinyBlock, lambda cost, i, o, s, g, b, options: cost.totals())]

    zoo.register_plugin(NoCost(), name="no-cost")
    with pytest.raises(
        ComponentContractError,
        match="block 'tiny' from plugin 'no-cost': complexity must return a zoo.plugin_kit.Cost, got dict",
    ):
        zoo.complexity(zoo.ModelSpec.from_dict(TINY_NET))


def test_a_misspelled_hook_is_refused_with_the_nearest_hook_name(env):
    class Typo:
        @kit.hookimpl
        def zoo_add_block(self):
            return []

    with pytest.raises(PluginError, match=r"unknown hook\(s\) \['zoo_add_block'\].*Did you mean: zoo_add_blocks"):
        zoo.register_plugin(Typo(), name="typo")
    assert "typo" not in loaded()


def test_a_hook_taking_arguments_the_spec_does_not_offer_is_refused(env):
    class Greedy:
        @kit.hookimpl
        def zoo_add_blocks(self, config):
            return []

    with pytest.raises(PluginError, match="plugin 'greedy' cannot be registered"):
        zoo.register_plugin(Greedy(), name="greedy")


@pytest.mark.parametrize(
    ("models", "error", "message"),
    [
        (lambda: ["tiny_net"], PluginError, "zoo_add_models must return a mapping of name -> entry table or the path"),
        (
            lambda: {"tiny_net": {**TINY_NET, "colour": "red"}},
            RegistryError,
            r"\[models.tiny_net\]: unknown field\(s\) \['colour'\]",
        ),
        (lambda: Path("/nonexistent/models.toml"), RegistryError, "cannot read registry file /nonexistent/models.toml"),
    ],
    ids=["not-a-mapping", "unknown-field", "missing-file"],
)
def test_bad_model_contributions_are_refused(env, models, error, message):
    class BadModels:
        @kit.hookimpl
        def zoo_add_models(self):
            return models()

    with pytest.raises(error, match=message):
        zoo.register_plugin(BadModels(), name="bad-models")
    assert "bad-models" not in loaded()


# -- run-time registration ---------------------------------------------------------------
def test_register_then_unregister_at_run_time(env):
    class Runtime:
        @kit.hookimpl
        def zoo_add_blocks(self):
            return [kit.Block("tiny", TinyBlock, tiny_cost, "a tiny block")]

    plugin = Runtime()
    assert zoo.register_plugin(plugin, name="runtime") == "runtime"
    assert zoo.get_component("block", "tiny").description == "a tiny block"
    assert loaded()["runtime"].contributes == {"block": ["tiny"]}
    with pytest.raises(PluginError, match="'runtime' is already registered"):
        zoo.register_plugin(plugin, name="runtime")
    zoo.unregister_plugin(plugin)
    with pytest.raises(UnknownComponentError, match="no block named 'tiny' is registered"):
        zoo.get_component("block", "tiny")
    with pytest.raises(PluginError, match="'runtime' is not registered"):
        zoo.unregister_plugin("runtime")


def test_a_plugin_module_can_be_registered_at_run_time(env):
    install(env, "zoo-tiny", "zplug_later", blocks_plugin("later"))
    env.joinpath("zoo_tiny-1.2.3.dist-info", "entry_points.txt").write_text("")  # importable, not autoloaded
    importlib.invalidate_caches()
    assert "zplug_later" not in loaded()
    module = importlib.import_module("zplug_later")
    assert zoo.register_plugin(module) == "zplug_later"
    assert zoo.complexity(zoo.ModelSpec.from_dict({**TINY_NET, "block": "later"})) == expected_tiny_net_cost()


def test_an_unknown_component_kind_is_refused():
    with pytest.raises(UnknownComponentError, match="the kinds are stem, block, head, rule"):
        zoo.get_component("neck", "fpn")
