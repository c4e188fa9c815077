"""The `zoo` command: tables, JSON, summaries, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from zoo.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_a_table_with_complexity(capsys):
    code, out, _ = run(capsys, "list", "regnetx_0*")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["name", "params(M)", "GFLOPs", "pretrained"]
    row = next(line.split() for line in lines if line.startswith("regnetx_032 "))
    assert row[1:3] == ["15.30", "3.177"]


def test_info_json_reports_the_papers_figures(capsys):
    code, out, _ = run(capsys, "info", "regnetx_032", "--json")
    info = json.loads(out)
    assert code == 0
    assert info["name"] == "regnetx_032" and info["params"] == 15296552 and info["flops"] == 3176622952
    assert info["input_size"] == 224 and info["acts"] == 11367432
    assert [s["width"] for s in info["stages"]] == [96, 192, 432, 1008]
    assert set(info["stages"][0]) >= {"depth", "width", "group_width", "bottleneck_ratio"}


def test_info_text_shows_stages(capsys):
    code, out, _ = run(capsys, "info", "regnetx32")
    assert code == 0 and "params: 179,290" in out and "stage  depth  width" in out


def test_summary_prints_the_seeds_shapes(capsys):
    code, out, _ = run(capsys, "summary", "regnetx32")
    assert code == 0
    for shape in ["(1, 48, 48, 32)", "(1, 24, 24, 32)", "(1, 12, 12, 80)", "(1, 10)"]:
        assert shape in out


def test_summary_takes_an_input_shape(capsys):
    code, out, _ = run(capsys, "summary", "regnetx32", "--input-shape", "2,64,64,1")
    assert code == 0 and "(2, 10)" in out and "(2, 32, 32, 32)" in out


def test_plugins_lists_the_builtins(capsys):
    code, out, _ = run(capsys, "plugins")
    assert code == 0 and "zoo.builtin" in out and "resnext" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["info", "regnetx_33"], "unknown model 'regnetx_33'"),
        (["summary", "regnetx32", "--input-shape", "1,96,96,3"], "has 3 channels"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_console_script_runs_as_a_process():
    result = subprocess.run([sys.executable, "-m", "zoo", "info", "nope"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("zoo: error: unknown model 'nope'") and "Traceback" not in result.stderr


HEAVY = ("jax", "jaxlib", "flax", "optax", "orbax", "tensorflow", "tensorflow_datasets", "ray", "torch")


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["sweep", "run", "--help"], ["export", "--help"]])
def test_help_imports_no_framework(argv):
    """`zoo --help` (and each subcommand's) builds every parser without loading jax, flax, tfds or Ray."""
    probe = (
        "import sys\nfrom zoo.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "import json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "usage: zoo" in done.stdout
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_lazy_package_keeps_functions_over_submodules():
    """zoo.predict is the function even after the module zoo/predict.py is imported by name."""
    probe = (
        "import zoo, zoo.predict, zoo.export, zoo.train.evaluate, zoo.train\n"
        "print(callable(zoo.predict), callable(zoo.export), callable(zoo.train.evaluate), "
        "type(zoo.errors).__name__, 'load' in dir(zoo))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "True", "module", "True"]
