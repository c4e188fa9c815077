"""A plugin that clashes with a built-in, or names a model badly, is skipped and reported; the zoo keeps working."""

from __future__ import annotations

import textwrap

import pytest

from zoo.cli import main

CLASHING_BLOCK = """
from zoo import plugin_kit as kit
from zoo.nn.builtin import ResNeXtBlock, resnext_cost

@kit.hookimpl
def zoo_add_blocks():
    return [kit.Block("resnext", ResNeXtBlock, resnext_cost, "a second resnext")]
"""

BAD_MODEL_NAMES = """
from zoo import plugin_kit as kit

STAGE = {{"depth": 1, "width": 8, "group_width": 8}}

@kit.hookimpl
def zoo_add_models():
    return {{{name!r}: {{"stages": [STAGE]}}}}
"""


def install(fresh_plugins, tmp_path, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    fresh_plugins.syspath_prepend(str(tmp_path))
    fresh_plugins.setenv("ZOO_PLUGINS", name)


def test_a_plugin_clashing_with_a_built_in_block_is_shown_by_zoo_plugins(fresh_plugins, tmp_path, capsys):
    install(fresh_plugins, tmp_path, "clash_plugin", CLASHING_BLOCK)
    with pytest.warns(Warning, match="clash_plugin"):
        assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "FAILED clash_plugin" in out and "'resnext'" in out and "anynet-zoo" in out
    assert main(["info", "regnetx_002", "--json"]) == 0  # every other command still works


@pytest.mark.parametrize("name", ["", "two\nlines", "tab\tname", "x" * 300, "../escape"])
def test_plugin_model_names_are_checked_like_registry_names(fresh_plugins, tmp_path, capsys, name):
    install(fresh_plugins, tmp_path, "badname_plugin", BAD_MODEL_NAMES.format(name=name))
    with pytest.warns(Warning, match="badname_plugin"):
        assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "FAILED badname_plugin" in out and "model name" in out


TWO_TINY_BLOCKS = """
from zoo import plugin_kit as kit
from zoo.nn.builtin import ResNeXtBlock, resnext_cost

@kit.hookimpl
def zoo_add_blocks():
    return [kit.Block("tiny", ResNeXtBlock, resnext_cost, "tiny")]
"""

SHADOW_CORE_MODEL = """
from zoo import plugin_kit as kit

@kit.hookimpl
def zoo_add_models():
    return {"regnetx_002": {"stages": [{"depth": 1, "width": 8, "group_width": 8}]}}
"""


@pytest.mark.parametrize(
    "plugins, expected",
    [
        ({"tiny_a": TWO_TINY_BLOCKS, "tiny_b": TWO_TINY_BLOCKS}, ["block 'tiny'", "'tiny_a'", "'tiny_b'"]),
        ({"shadow": SHADOW_CORE_MODEL}, ["model 'regnetx_002' is in the core registry", "'shadow'"]),
    ],
)
def test_zoo_plugins_shows_conflicts_between_plugins_and_with_the_core_registry(
    fresh_plugins, tmp_path, capsys, plugins, expected
):
    for name, source in plugins.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    fresh_plugins.syspath_prepend(str(tmp_path))
    fresh_plugins.setenv("ZOO_PLUGINS", ",".join(plugins))
    assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    conflicts = [line for line in out.splitlines() if line.startswith("CONFLICT: ")]
    assert any(all(e in c for e in expected) for c in conflicts)
    assert "zoo.builtin" in out and "Traceback" not in out
