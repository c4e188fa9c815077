"""Sweep data from anywhere is checked once, at the door (issue 19, item 5), and sweeps run
differently are not compared as if they were alike (issue 23, item 4)."""

from __future__ import annotations

import io
import itertools
import json
import re

import numpy as np
import pytest

from zoo.cli import main
from zoo.errors import SweepError
from zoo.spec import ModelSpec, StageSpec
from zoo.sweep.ks import _exact_pvalue, ks_2samp, ks_statistic, permutation_pvalue
from zoo.sweep.table import open_sweep

SPEC = ModelSpec(stages=(StageSpec(1, 8, 8),), stem="cifar", stem_width=8, num_classes=10, in_channels=1, input_size=8)
RECIPE = {"dataset": "digits", "epochs": 10, "lr": 0.1, "batch_size": 64}


def manifest(space="regnet", **recipe):
    return {
        "space": space,
        "n": 3,
        "seed": 0,
        "bands": {"flops": "2M:4M"},
        "base": SPEC.to_dict(),
        "recipe": {**RECIPE, **recipe},
    }


def good_row(trial: int, error: float = 0.1) -> dict:
    return {
        "trial": trial,
        "space": "regnet",
        "error": error,
        "complexity": {"flops": 3_000_000, "params": 1000, "acts": 10},
        "seconds": 1.0,
        "spec": SPEC.to_dict(),
    }


def sweep(directory, rows=None, man=None, raw: bytes | None = None):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sweep.json").write_text(json.dumps(man or manifest()))
    lines = raw if raw is not None else "".join(json.dumps(r) + "\n" for r in rows or []).encode()
    (directory / "results.jsonl").write_bytes(lines)
    return str(directory)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zoo: error: "), err
    return err[0]


BAD_ROWS = {
    "binary bytes": (b"\xff\xfe\x00garbage\n", r"results.jsonl:2 is not a JSON row"),
    "error as a string": (b'{"trial": 1, "error": "0.3"}\n', r"results.jsonl:2: error '0.3' is not a number"),
    "trial as a string": (b'{"trial": "one", "error": 0.3}\n', r"results.jsonl:2: trial 'one'"),
    "a list for a row": (b"[1, 2, 3]\n", r"results.jsonl:2: a trial row must be a JSON object, got list"),
    "a list for complexity": (
        b'{"trial": 1, "error": 0.3, "complexity": [1]}\n',
        r"results.jsonl:2: complexity is list",
    ),
    "flops as a string": (
        b'{"trial": 1, "error": 0.3, "complexity": {"flops": "many", "params": 1}}\n',
        r"results.jsonl:2: complexity.flops 'many'",
    ),
    "seconds as a string": (
        b'{"trial": 1, "error": 0.3, "complexity": {"flops": 1, "params": 1}, "seconds": "x"}\n',
        r"results.jsonl:2: seconds 'x'",
    ),
    "complexity missing": (b'{"trial": 1, "error": 0.3}\n', r"results.jsonl:2: the row has no 'complexity' field"),
}


@pytest.mark.parametrize("command", ["table", "plot", "push"])
@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_is_one_error_naming_file_line_and_field(tmp_path, capsys, command, case):
    bad, match = BAD_ROWS[case]
    directory = sweep(tmp_path / "s", raw=json.dumps(good_row(0)).encode() + b"\n" + bad)
    argv = {
        "table": ["sweep", "table", directory],
        "plot": ["sweep", "plot", directory, "--out", str(tmp_path / "edf.png")],
        "push": ["sweep", "push", directory, "org/pop"],
    }[command]
    assert main(argv) == 2
    import re

    assert re.search(match, one_error_line(capsys))
    assert not (tmp_path / "edf.png").exists()


@pytest.mark.parametrize(
    "spec, match",
    [(None, "the row has no 'spec' field"), ("regnet", "spec"), ({"stages": "many"}, "stages")],
)
def test_fit_refuses_a_row_without_a_usable_spec(tmp_path, capsys, spec, match):
    row = good_row(1)
    del row["spec"]
    if spec is not None:
        row["spec"] = spec
    directory = sweep(tmp_path / "s", [good_row(0), row])
    assert main(["sweep", "fit", directory]) == 2
    line = one_error_line(capsys)
    assert "results.jsonl:2" in line and match in line


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "cannot be read as JSON"),
        (b"[1, 2]", "a sweep manifest must be a JSON object, got list"),
        (b'{"space": "regnet", "recipe": "fast"}', "recipe is str, not an object"),
        (b'{"space": 7}', "space 7 is not a name"),
        (b'{"space": "regnet", "n": "ten"}', "n 'ten' is not an integer"),
    ],
)
@pytest.mark.parametrize("command", ["table", "fit"])
def test_a_bad_manifest_is_one_error_naming_the_file(tmp_path, capsys, raw, match, command):
    directory = sweep(tmp_path / "s", [good_row(0)])
    (tmp_path / "s" / "sweep.json").write_bytes(raw)
    assert main(["sweep", command, directory]) == 2
    line = one_error_line(capsys)
    assert "sweep.json" in line and match in line


@pytest.mark.parametrize("command", ["table", "plot", "fit", "push"])
def test_zero_rows_is_one_error(tmp_path, capsys, command):
    directory = sweep(tmp_path / "s", [])
    extra = ["--out", str(tmp_path / "e.png")] if command == "plot" else ["org/pop"] if command == "push" else []
    assert main(["sweep", command, directory, *extra]) == 2
    assert "no finished trials" in one_error_line(capsys)


@pytest.mark.parametrize("out", ["edf.jpg", "folder", "a-file/edf.png", "edf"])
def test_plot_out_that_cannot_be_a_png_is_one_line(tmp_path, capsys, out):
    directory = sweep(tmp_path / "s", [good_row(0), good_row(1, 0.2)])
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    assert main(["sweep", "plot", directory, "--out", str(tmp_path / out)]) == 2
    assert "--out" in one_error_line(capsys)
    assert (tmp_path / "a-file").read_text() == "x"


def _publish(hub_api, repo: str, man: bytes, rows: list) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from huggingface_hub import CommitOperationAdd

    sink = io.BytesIO()
    pq.write_table(pa.table({"row": pa.array(rows, pa.string())}), sink)
    hub_api.create_repo(repo, repo_type="dataset", exist_ok=True)
    hub_api.create_commit(
        repo,
        [
            CommitOperationAdd(path_in_repo="results.parquet", path_or_fileobj=sink.getvalue()),
            CommitOperationAdd(path_in_repo="sweep.json", path_or_fileobj=man),
        ],
        repo_type="dataset",
        commit_message="hostile",
    )


@pytest.mark.parametrize(
    "case, man, rows, match",
    [
        ("a list row", None, ["[1, 2]"], r"results.parquet row 1: a trial row must be a JSON object"),
        ("a string error", None, [json.dumps({"trial": 0, "error": "low"})], r"results.parquet row 1: error 'low'"),
        ("not JSON", None, ["\x00\x01binary"], r"results.parquet row 1: row is not JSON"),
        ("a list manifest", b"[]", None, r"sweep.json: a sweep manifest must be a JSON object"),
        ("binary manifest", b"\xff\xfe", None, r"sweep.json of Hub dataset repo '\S+' .* is not valid JSON"),
        ("zero rows", None, [], r"no finished trials"),
    ],
)
@pytest.mark.parametrize("command", ["table", "plot", "fit"])
def test_a_bad_population_on_the_hub_is_one_error(hub, tmp_path, capsys, case, man, rows, match, command):
    from huggingface_hub import HfApi

    from zoo.hub.client import hub_settings

    s = hub_settings()
    repo = "org/bad-" + "".join(c for c in case if c.isalnum())
    good = [json.dumps(good_row(0))]
    _publish(HfApi(endpoint=s.endpoint, token=s.token), repo, man or json.dumps(manifest()).encode(),
             good if rows is None else rows)  # fmt: skip
    extra = ["--out", str(tmp_path / "e.png")] if command == "plot" else []
    assert main(["sweep", command, f"hf-hub:{repo}", *extra]) == 2
    import re

    assert re.search(match, one_error_line(capsys))


# -- comparing only what is comparable (issue 23, item 4) -------------------------------------
def test_table_refuses_sweeps_with_different_recipes_naming_the_keys(tmp_path, capsys):
    a = sweep(tmp_path / "a", [good_row(0), good_row(1, 0.2)], manifest("regnet"))
    b = sweep(tmp_path / "b", [good_row(0, 0.3)], manifest("anynetx_a", lr=0.05, dataset="fashion_mnist"))
    assert main(["sweep", "table", a, b]) == 2
    line = one_error_line(capsys)
    assert "recipe.lr: regnet=0.1, anynetx_a=0.05" in line and "recipe.dataset" in line
    assert "recipe.epochs" not in line and "{" not in line  # the keys that differ, not two dicts
    assert main(["sweep", "table", a, b, "--mixed"]) == 0
    captured = capsys.readouterr()
    assert "regnet" in captured.out and "anynetx_a" in captured.out
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("zoo: warning:") for w in warnings)
    assert any("recipe.lr" in w for w in warnings) and any("recipe.dataset" in w for w in warnings)


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda m: m["bands"].update(flops="4M:8M"), "bands.flops"),
        (lambda m: m["base"].update(stem_width=16), "base.stem_width"),
        (lambda m: m.pop("recipe"), "recipe.lr"),
    ],
)
def test_plot_refuses_sweeps_with_different_bands_or_bases(tmp_path, capsys, change, key):
    other = manifest("anynetx_a")
    change(other)
    a = sweep(tmp_path / "a", [good_row(0)], manifest())
    b = sweep(tmp_path / "b", [good_row(0)], other)
    assert main(["sweep", "plot", a, b, "--out", str(tmp_path / "e.png")]) == 2
    assert key in one_error_line(capsys) and not (tmp_path / "e.png").exists()


def test_a_different_data_dir_or_seed_is_still_comparable_and_legends_are_unique(tmp_path, capsys):
    from zoo.sweep.edf import comparable, summarize

    other = manifest(data_dir="/elsewhere")
    other["seed"] = 5
    a = sweep(tmp_path / "one" / "regnet", [good_row(0)], manifest())
    b = sweep(tmp_path / "two" / "regnet", [good_row(0, 0.2)], other)
    summaries, differing = comparable([summarize(a), summarize(b)])
    assert differing == []
    labels = [s.label for s in summaries]
    assert len(set(labels)) == 2 and all(label.startswith("regnet (") for label in labels)
    assert main(["sweep", "plot", a, b, "--out", str(tmp_path / "e.png")]) == 0


def test_resuming_a_different_sweep_names_the_key_not_two_dicts(tmp_path):
    open_sweep(tmp_path / "s", manifest())
    with pytest.raises(SweepError, match=r"recipe\.lr: 0\.1 -> 0\.2\)") as caught:
        open_sweep(tmp_path / "s", manifest(lr=0.2))
    assert "epochs" not in str(caught.value)


# -- KS with ties ---------------------------------------------------------------------------
def test_ks_with_ties_runs_a_seeded_permutation_test_and_says_so():
    a, b = [1, 1, 2, 2, 2, 3], [2, 3, 3, 3, 4, 4]  # errors over a small test set tie like this
    r = ks_2samp(a, b)
    assert r.method.startswith("permutation, ties kept")
    assert r == ks_2samp(a, b)  # seeded: the same data gives the same p
    pool = np.asarray(a + b, float)
    splits = [np.isin(np.arange(12), idx) for idx in itertools.combinations(range(12), 6)]
    exact_with_ties = np.mean([ks_statistic(pool[m], pool[~m]) >= r.statistic - 1e-12 for m in splits])
    assert abs(r.pvalue - exact_with_ties) < 0.01  # every split counted: 0.080
    assert _exact_pvalue(r.statistic, 6, 6) > 1.5 * exact_with_ties  # the no-ties law overstates p (0.143)
    assert ks_2samp([0.1, 0.2, 0.3], [0.4, 0.5, 0.6]).method == "exact"


def test_the_permutation_p_matches_the_exact_one_without_ties():
    rng = np.random.default_rng(3)
    x, y = np.sort(rng.normal(size=12)), np.sort(rng.normal(0.8, 1, size=15))
    d = ks_statistic(x, y)
    assert abs(permutation_pvalue(x, y, d, 20_000, 0) - _exact_pvalue(d, 12, 15)) < 0.01


def test_the_table_json_says_which_test_ran(tmp_path, capsys):
    a = sweep(tmp_path / "a", [good_row(i, e) for i, e in enumerate([0.1, 0.1, 0.2])], manifest("a"))
    b = sweep(tmp_path / "b", [good_row(i, e) for i, e in enumerate([0.2, 0.3, 0.3])], manifest("b"))
    assert main(["sweep", "table", a, b, "--json"]) == 0
    (test,) = json.loads(capsys.readouterr().out)["ks"]
    assert test["test"].startswith("permutation, ties kept")


def test_a_hub_population_honours_offline_mode(hub, capsys, monkeypatch):
    """Read once online, a pushed sweep is read from the cache offline; one never fetched is one offline error."""
    from huggingface_hub import HfApi

    from zoo.hub.client import hub_settings

    s = hub_settings()
    _publish(HfApi(endpoint=s.endpoint, token=s.token), "org/offline-sweep", json.dumps(manifest()).encode(),
             [json.dumps(good_row(0))])  # fmt: skip
    assert main(["sweep", "table", "hf-hub:org/offline-sweep"]) == 0
    online = capsys.readouterr().out
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["sweep", "table", "hf-hub:org/offline-sweep"]) == 0
    assert capsys.readouterr().out == online
    assert main(["sweep", "table", "hf-hub:org/never-fetched"]) == 2
    assert re.search(r"offline \(HF_HUB_OFFLINE=1\) and sweep.json of Hub dataset repo", one_error_line(capsys))
