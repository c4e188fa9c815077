"""Plugins installed for real: pip installs plugin distributions into a fresh directory, and
fresh interpreters (PYTHONPATH=that directory) discover them through their entry points.

Also keeps docs/plugins.md honest: the files it shows are the example plugin's files, its
Python examples run against the installed plugin, and `zoo plugins` prints what it shows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
FIRST_PARTY = ["zoo-example-block", "zoo-resnet", "zoo-anynetx"]

BROKEN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "zoo-broken"
version = "9.9.9"
dependencies = ["anynet-zoo"]

[project.entry-points."zoo.plugins"]
broken = "zoo_broken"

[tool.setuptools]
packages = ["zoo_broken"]
"""
BROKEN_MODULE = 'raise ImportError("zoo-broken needs the package not_installed_anywhere")\n'


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory) -> Path:
    """A directory holding the first-party plugins and a plugin that fails to import, pip-installed."""
    root = tmp_path_factory.mktemp("plugin_site")
    broken = root / "src" / "zoo-broken"
    (broken / "zoo_broken").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "zoo_broken" / "__init__.py").write_text(BROKEN_MODULE)
    sources = [str(broken)]
    for name in FIRST_PARTY:  # copies: pip builds in the source tree, and a stale build/ would leak in
        copy = root / "src" / name
        shutil.copytree(
            ROOT / "plugins" / name, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
        )
        sources.append(str(copy))
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            *sources,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def run(site: Path, args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGIN_AUTOLOAD")}
    environ.update(PYTHONPATH=str(site), HF_HUB_OFFLINE="1", **env)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=environ, cwd=site, timeout=300)


FACTS = textwrap.dedent(
    """
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import zoo, zoo.plugins
        manager = zoo.plugins.manager()
        manager.tables()
    import zoo_anynetx, zoo_example_block, zoo_resnet
    print(json.dumps({
        "files": {m.__name__: m.__file__ for m in (zoo_anynetx, zoo_example_block, zoo_resnet)},
        "infos": {n: [i.distribution, i.version, i.contributes] for n, i in manager.infos.items()},
        "failures": [[f.name, f.distribution, f.error] for f in manager.failures],
        "warnings": [str(w.message) for w in caught if issubclass(w.category, zoo.plugins.PluginWarning)],
        "resnet50": zoo.complexity("resnet50"),
        "my_net": zoo.get_spec("my_net").block,
    }))
    """
)


@pytest.fixture(scope="module")
def facts(site_dir) -> dict:
    done = run(site_dir, ["-c", FACTS])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_plugins_are_imported_from_the_directory_pip_installed_them_into(facts, site_dir):
    assert all(Path(f).is_relative_to(site_dir) for f in facts["files"].values())


def test_entry_points_register_each_plugin_with_its_distribution_and_version(facts):
    infos = facts["infos"]
    assert infos["example"][:2] == ["zoo-example-block", "0.1.0"]
    assert infos["example"][2] == {"block": ["inverted_residual"], "model": ["my_net"]}
    assert infos["resnet"][:2] == ["zoo-resnet", "0.1.0"]
    assert infos["resnet"][2]["stem"] == ["resnet"]
    assert infos["anynetx"][2] == {"rule": ["anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e"]}


def test_a_plugin_that_fails_to_import_is_skipped_with_a_warning_naming_it(facts):
    assert facts["failures"] == [["broken", "zoo-broken", facts["failures"][0][2]]]
    assert "not_installed_anywhere" in facts["failures"][0][2]
    assert any("'broken'" in w and "not_installed_anywhere" in w for w in facts["warnings"])
    assert "broken" not in facts["infos"]


def test_the_rest_of_the_zoo_works_beside_a_broken_plugin(facts):
    assert facts["resnet50"] == {"params": 25_557_032, "flops": 4_089_185_256, "acts": 11_315_688}
    assert facts["my_net"] == "inverted_residual"


def test_zoo_plugins_lists_contributions_and_the_failed_plugin(site_dir):
    done = run(site_dir, ["-m", "zoo", "plugins"])
    assert done.returncode == 0, done.stderr
    assert "resnet  [zoo-resnet 0.1.0]" in done.stdout
    assert "    rule: anynetx_a, anynetx_b, anynetx_c, anynetx_d, anynetx_e" in done.stdout
    assert re.search(r"^FAILED broken: import failed: ImportError: .*not_installed_anywhere", done.stdout, re.M)
    shown = re.search(r"<!-- output: zoo plugins -->\n```text\n(.*?)```", DOC.read_text(), re.S).group(1)
    assert shown in done.stdout  # the tutorial shows what the command prints


def test_disabling_autoload_skips_installed_plugins_but_not_zoo_plugins_modules(site_dir):
    done = run(site_dir, ["-m", "zoo", "plugins"], ZOO_DISABLE_PLUGIN_AUTOLOAD="1", ZOO_PLUGINS="zoo_anynetx")
    assert done.returncode == 0, done.stderr
    assert "zoo.builtin  [anynet-zoo" in done.stdout
    assert "zoo_anynetx  [(not installed: runtime or ZOO_PLUGINS)]" in done.stdout
    for absent in ("[zoo-resnet", "[zoo-example-block", "[zoo-se", "FAILED"):
        assert absent not in done.stdout


# -- docs/plugins.md ---------------------------------------------------------------------
def quoted_files() -> list[tuple[str, str]]:
    return re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)


def test_the_tutorial_quotes_the_example_plugin_files_exactly():
    quoted = quoted_files()
    assert {path for path, _ in quoted} == {
        "plugins/zoo-example-block/pyproject.toml",
        "plugins/zoo-example-block/zoo_example_block/__init__.py",
        "plugins/zoo-example-block/zoo_example_block/models.toml",
    }
    for path, text in quoted:
        assert text == (ROOT / path).read_text(), f"docs/plugins.md is out of date with {path}"


RUN_DOC = textwrap.dedent(
    """
    import re, sys
    text = open(sys.argv[1]).read()
    quoted = set(re.findall(r"<!-- file: \\S+ -->\\n```python\\n(.*?)```", text, re.S))
    blocks = [b for b in re.findall(r"```python\\n(.*?)```", text, re.S) if b not in quoted]
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/plugins.md python block {i}", "exec"), {"__name__": f"doc_{i}"})
    print(f"ran {len(blocks)} blocks")
    """
)


def test_the_tutorials_examples_run_against_the_installed_plugin(site_dir):
    done = run(site_dir, ["-W", "ignore::UserWarning", "-c", RUN_DOC, str(DOC)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ran 5 blocks")
