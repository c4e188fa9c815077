"""Sweeps without training: EDFs, the RegNet fit, the results table, resume, and the sweep CLI."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.design import expand_regnet
from zoo.design.sampling import parse_band
from zoo.errors import SweepError
from zoo.spec import ModelSpec, StageSpec
from zoo.sweep.edf import dominance, edf, edf_steps
from zoo.sweep.fit import block_widths, fit_regnet
from zoo.sweep.runner import make_manifest, plan_trials, run_sweep
from zoo.sweep.table import append_row, open_sweep, read_rows

BASE = ModelSpec(stages=(StageSpec(1, 8, 8),), stem_width=16, num_classes=10, in_channels=1, input_size=16)
RECIPE = {"epochs": 1}


# -- EDF -------------------------------------------------------------------------------
def test_edf_counts_errors_strictly_below_each_threshold():
    errors = [0.5, 0.1, 0.3, 0.3]
    at = [0.05, 0.1, 0.2, 0.3, 0.31, 0.5, 0.6]
    assert edf(errors, at).tolist() == [0.0, 0.0, 0.25, 0.25, 0.75, 0.75, 1.0]


def test_edf_steps_are_the_sorted_errors_and_their_ranks():
    x, y = edf_steps([0.5, 0.1, 0.3, 0.3])
    assert x.tolist() == [0.1, 0.3, 0.3, 0.5] and y.tolist() == [0.25, 0.5, 0.75, 1.0]


def test_a_space_with_lower_errors_dominates():
    good, bad = [0.1, 0.2, 0.25], [0.3, 0.4, 0.45]
    assert dominance(good, bad) == 1.0 and dominance(bad, good) < 0.5


def test_an_empty_sweep_has_no_edf():
    with pytest.raises(SweepError, match="at least one error"):
        edf([], [0.1])


# -- RegNet fit ------------------------------------------------------------------------------
def regnet_spec(**params) -> ModelSpec:
    return BASE.replace(stages=tuple(expand_regnet({"group_w": 8, **params})))


@pytest.mark.parametrize(
    "params",
    [
        {"w0": 24, "wa": 24.48, "wm": 2.54, "depth": 22},  # RegNetX-400MF
        {"w0": 48, "wa": 36.97, "wm": 2.24, "depth": 16},  # RegNetX-600MF
        {"w0": 56, "wa": 35.73, "wm": 2.28, "depth": 16},  # RegNetX-800MF
    ],
)
def test_the_fit_recovers_a_regnets_rule_from_its_spec(params):
    spec = regnet_spec(**params)
    fit = fit_regnet([spec])
    assert fit.e_fit == 0.0 and fit.w0 == params["w0"] and fit.depth == params["depth"]
    assert fit.wa == pytest.approx(params["wa"], rel=0.1) and fit.wm == pytest.approx(params["wm"], rel=0.05)
    refit = regnet_spec(**{k: v for k, v in fit.design().items() if k not in ("rule", "group_w")})
    assert block_widths(refit) == block_widths(spec) and refit.stages == spec.stages


def test_one_rule_fits_models_of_one_rule_at_different_depths():
    rule = {"w0": 24, "wa": 36.44, "wm": 2.49}
    specs = [regnet_spec(**rule, depth=d) for d in (10, 13, 17)]
    fit = fit_regnet(specs)
    assert fit.e_fit == 0.0 and fit.depth == 13 and fit.group_w == 8 and fit.bot_mul == 1.0
    for spec, d in zip(specs, (10, 13, 17)):
        again = regnet_spec(w0=fit.w0, wa=fit.wa, wm=fit.wm, depth=d)
        assert block_widths(again) == block_widths(spec)


def test_the_fit_of_a_non_regnet_has_a_positive_error():
    spec = BASE.replace(stages=(StageSpec(3, 64, 8), StageSpec(2, 16, 8), StageSpec(4, 128, 8), StageSpec(1, 24, 8)))
    assert fit_regnet([spec]).e_fit > 0.01


def test_the_fitted_design_line_is_registry_toml():
    line = fit_regnet([regnet_spec(w0=24, wa=24.48, wm=2.54, depth=22)]).toml()
    design = tomllib.loads(line)["design"]
    assert design["rule"] == "regnet"
    assert zoo.get_component("rule", "regnet").expand({k: v for k, v in design.items() if k != "rule"})


# -- the table ----------------------------------------------------------------------------
def row(trial: int, error: float, spec: ModelSpec = BASE, space: str = "regnet") -> dict:
    cost = zoo.complexity(spec)
    return {
        "trial": trial,
        "space": space,
        "error": error,
        "spec": spec.to_dict(),
        "complexity": cost,
        "seconds": 1.0,
        "params": {},
    }


def manifest(space="regnet", n=3, **kw):
    return make_manifest(space, n, 0, (parse_band("2M:4M"),), BASE, RECIPE, workers=0, **kw)


def test_rows_are_appended_and_read_back_in_order(tmp_path):
    open_sweep(tmp_path, manifest())
    for i, e in [(2, 0.3), (0, 0.1)]:
        append_row(tmp_path, row(i, e))
    assert [(r["trial"], r["error"]) for r in read_rows(tmp_path)] == [(2, 0.3), (0, 0.1)]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_trial_cannot_be_recorded_twice(tmp_path):
    open_sweep(tmp_path, manifest())
    append_row(tmp_path, row(0, 0.1))
    with pytest.raises(SweepError, match="already recorded"):
        append_row(tmp_path, row(0, 0.2))
    assert len(read_rows(tmp_path)) == 1


def test_a_corrupt_table_is_reported_with_its_line(tmp_path):
    open_sweep(tmp_path, manifest())
    append_row(tmp_path, row(0, 0.1))
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"trial": 1, "err\n')
    with pytest.raises(SweepError, match=r"results.jsonl:2 is not a JSON row"):
        read_rows(tmp_path)


def test_a_directory_refuses_a_different_sweep_but_accepts_a_larger_n(tmp_path):
    open_sweep(tmp_path, manifest(n=3))
    open_sweep(tmp_path, manifest(n=10))
    assert json.loads((tmp_path / "sweep.json").read_text())["n"] == 10
    with pytest.raises(SweepError, match=r"different sweep \(space: 'regnet' -> 'anynetx_a'"):
        open_sweep(tmp_path, manifest(space="anynetx_a"))


def test_a_missing_directory_is_not_a_sweep(tmp_path):
    with pytest.raises(SweepError, match="not a directory"):
        read_rows(tmp_path / "nope")


# -- resume (in-process engine, a stand-in trial that does not train) ----------------------------
def fake_trial(trial: dict, recipe: dict) -> dict:
    """Error from the spec's first width: deterministic, instant."""
    spec = ModelSpec.from_dict(trial["spec"])
    return {**row(trial["trial"], spec.stages[0].width / 1000, spec), "recipe": recipe}


def test_a_rerun_skips_finished_trials_and_runs_failed_ones(tmp_path):
    m = manifest(n=4)
    trials = plan_trials(m, zoo.get_component("rule", "regnet"), (parse_band("2M:4M"),))
    calls = []

    def flaky(trial, recipe):
        calls.append(trial["trial"])
        if trial["trial"] == 2 and calls.count(2) == 1:
            raise RuntimeError("out of memory")
        return fake_trial(trial, recipe)

    first = run_sweep(tmp_path, m, trials, trial_fn=flaky, log=lambda _: None)
    assert first.finished == [0, 1, 3] and list(first.failed) == [2]
    second = run_sweep(tmp_path, m, trials, trial_fn=flaky, log=lambda _: None)
    assert second.skipped == [0, 1, 3] and second.finished == [2] and not second.failed
    assert calls == [0, 1, 2, 3, 2]
    rows = read_rows(tmp_path)
    assert sorted(r["trial"] for r in rows) == [0, 1, 2, 3]
    assert {r["trial"]: r["error"] for r in rows} == {
        t["trial"]: t["spec"]["stages"][0]["width"] / 1000 for t in trials
    }


def test_growing_n_runs_only_the_new_trials_and_keeps_the_old_draws(tmp_path):
    rule = zoo.get_component("rule", "anynetx_a")
    small, large = manifest("anynetx_a", n=2), manifest("anynetx_a", n=4)
    band = (parse_band("2M:4M"),)
    run_sweep(tmp_path, small, plan_trials(small, rule, band), trial_fn=fake_trial, log=lambda _: None)
    more = plan_trials(large, rule, band)
    report = run_sweep(tmp_path, large, more, trial_fn=fake_trial, log=lambda _: None)
    assert report.skipped == [0, 1] and report.finished == [2, 3]
    assert [r["spec"] for r in read_rows(tmp_path)] == [t["spec"] for t in more]


def test_a_rerun_refuses_a_table_drawn_by_another_sampler(tmp_path):
    m = manifest(n=2)
    trials = plan_trials(m, zoo.get_component("rule", "regnet"), (parse_band("2M:4M"),))
    run_sweep(tmp_path, m, trials, trial_fn=fake_trial, log=lambda _: None)
    other = [{**trials[0], "spec": BASE.to_dict()}, trials[1]]
    with pytest.raises(SweepError, match=r"trial\(s\) \[0\] were recorded with other specs"):
        run_sweep(tmp_path, m, other, trial_fn=fake_trial, log=lambda _: None)


# -- the CLI ---------------------------------------------------------------------------------
def fill(directory, space, errors):
    open_sweep(directory, manifest(space, n=len(errors)))
    for i, e in enumerate(errors):
        spec = regnet_spec(w0=24, wa=24.48 + i, wm=2.54, depth=12 + i)
        append_row(directory, row(i, e, spec, space))


def test_table_plot_and_fit_commands(tmp_path, capsys):
    fill(tmp_path / "a", "anynetx_a", [0.3, 0.2, 0.5, 0.4])
    fill(tmp_path / "r", "regnet", [0.1, 0.2, 0.15])
    assert main(["sweep", "table", str(tmp_path / "a"), str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["space", "n", "min%"]
    assert lines[1].split()[:4] == ["anynetx_a", "4", "20.00", "27.50"]
    assert lines[2].split()[:3] == ["regnet", "3", "10.00"]

    assert main(["sweep", "plot", str(tmp_path / "a"), str(tmp_path / "r"), "--out", str(tmp_path / "edf.png")]) == 0
    assert (tmp_path / "edf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out

    assert main(["sweep", "fit", str(tmp_path / "r"), "--top", "2"]) == 0
    out = capsys.readouterr()
    design = tomllib.loads(out.out)["design"]
    assert design["rule"] == "regnet" and design["w0"] == 24
    assert "trial 0" in out.err and "trial 2" in out.err and "trial 1:" not in out.err


def test_sample_command_prints_reproducible_specs_in_the_band(capsys):
    argv = ["sweep", "sample", "regnet", "--n", "3", "--flops", "2M:4M", "--json"]
    assert main(argv) == 0
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(argv) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == first
    assert all(2e6 <= s["complexity"]["flops"] <= 4e6 for s in first) and len(first) == 3


@pytest.mark.parametrize(
    "argv, said",
    [
        (["sweep", "run", "anynet", "--out", "x"], "has no sampler"),
        (["sweep", "run", "regnett", "--out", "x"], "Did you mean: regnet"),
        (["sweep", "sample", "regnet", "--flops", "4M"], "LOW:HIGH"),
    ],
)
def test_bad_sweep_input_exits_2_with_a_message(argv, said, capsys):
    assert main(argv) == 2
    assert said in capsys.readouterr().err


def test_table_of_a_directory_that_is_not_a_sweep(tmp_path, capsys):
    assert main(["sweep", "table", str(tmp_path)]) == 2
    assert "not a sweep directory" in capsys.readouterr().err


def test_rows_record_what_the_paper_needs(tmp_path):
    rows = [row(0, 0.25)]
    assert {"trial", "space", "error", "spec", "complexity", "seconds"} <= set(rows[0])
    assert np.isclose(rows[0]["error"], 0.25)


def test_every_sweep_command_in_the_docs_parses():
    import re
    import shlex
    from pathlib import Path

    from zoo.cli import build_parser

    doc = (Path(__file__).resolve().parents[1] / "docs" / "design-spaces.md").read_text()
    lines = [
        line.strip()
        for block in re.findall(r"```bash\n(.*?)```", doc, re.S)
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip().startswith("zoo sweep ")
    ]
    assert {shlex.split(line)[2] for line in lines} >= {"run", "plot", "table", "fit"}
    for line in lines:
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert args.command == "sweep" and callable(args.func)


@pytest.mark.parametrize(
    "folder, spaces, image",
    [
        ("digits-sweep", ("anynetx_a", "regnet"), "edf.png"),
        # digits-edf's figures are a generated block: tests/test_sweep_report.py checks it
    ],
)
def test_the_docs_evidence_matches_its_committed_sweep_tables(folder, spaces, image, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    data = root / "docs" / "data" / folder
    assert main(["sweep", "table", *(str(data / space) for space in spaces)]) == 0
    doc = (root / "docs" / "design-spaces.md").read_text()
    for line in capsys.readouterr().out.splitlines():
        assert line in doc
    assert (root / "docs" / "img" / image).read_bytes()[:4] == b"\x89PNG" and f"](img/{image})" in doc
