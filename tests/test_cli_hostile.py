"""Hostile inputs on the command line end in one `zoo: error:` line, never a traceback."""

from __future__ import annotations

import textwrap

import pytest

from zoo.cli import main

INFINITE_MODEL = """
from zoo import plugin_kit as kit

@kit.hookimpl
def zoo_add_models():
    stage = {"depth": 1, "width": 8, "group_width": 8, "bottleneck_ratio": float("inf")}
    return {"infinite_net": {"stages": [stage], "options": {"bn_momentum": "fast"}}}
"""


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("shape", ["9999999999999999999,1,1,3", "1,99999999999,99999999999,3"])
def test_summary_with_an_absurd_input_shape_is_a_typed_error(capsys, shape):
    assert main(["summary", "regnetx32", "--input-shape", shape]) == 2
    assert "below 2**31" in one_error_line(capsys)


@pytest.mark.parametrize("command", [["info", "infinite_net"], ["list"], ["summary", "infinite_net"]])
def test_a_registry_entry_with_an_infinite_ratio_is_a_typed_error(fresh_plugins, tmp_path, capsys, command):
    (tmp_path / "infinite_plugin.py").write_text(textwrap.dedent(INFINITE_MODEL))
    fresh_plugins.syspath_prepend(str(tmp_path))
    fresh_plugins.setenv("ZOO_PLUGINS", "infinite_plugin")
    assert main(command) == 2
    assert "bottleneck_ratio must be a finite number" in one_error_line(capsys)
