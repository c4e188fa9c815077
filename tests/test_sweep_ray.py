"""Sweeps through a real local Ray with two workers: real (tiny) training, a worker killed mid-trial."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import ray

from zoo.spec import ModelSpec, StageSpec
from zoo.sweep.runner import make_manifest, run_sweep
from zoo.sweep.table import read_rows
from zoo.sweep.trial import run_trial

TINY = ModelSpec(stages=(StageSpec(1, 8, 8),), stem_width=8, num_classes=10, in_channels=1, input_size=8)
RECIPE = {
    "dataset": "digits",
    "train_split": "train[:64]",
    "test_split": "test[:32]",
    "epochs": 1,
    "batch_size": 32,
    "image_size": 8,
    "augment": False,
}
RAY_INIT = {"object_store_memory": 80 * 1024**2}


def tiny_trials(n: int) -> list[dict]:
    specs = [TINY, TINY.replace(stages=(StageSpec(1, 16, 8),))][:n]
    return [
        {
            "trial": i,
            "space": "tiny",
            "sweep_seed": 0,
            "params": {"width": s.widths[0]},
            "spec": s.to_dict(),
            "complexity": {"flops": 1, "params": 1, "acts": 1},
        }
        for i, s in enumerate(specs)
    ]


@pytest.fixture(scope="module")
def sweep_with_a_killed_worker(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    marks = tmp_path_factory.mktemp("attempts")

    def dies_once(trial: dict, recipe: dict) -> dict:
        # Each attempt leaves a file named for its process; trial 0's first attempt then kills that process.
        (marks / f"trial{trial['trial']}-pid{os.getpid()}").touch()
        if trial["trial"] == 0 and not (marks / "killed").exists():
            (marks / "killed").write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return run_trial(trial, recipe)

    manifest = make_manifest("tiny", 2, 0, (), TINY, RECIPE, workers=2)
    report = run_sweep(
        out, manifest, tiny_trials(2), trial_fn=dies_once, max_retries=2, ray_init=RAY_INIT, log=lambda _: None
    )
    return out, marks, manifest, report


def test_a_killed_worker_is_replaced_and_its_trial_rerun(sweep_with_a_killed_worker):
    out, marks, _, report = sweep_with_a_killed_worker
    assert sorted(report.finished) == [0, 1] and not report.failed
    assert not ray.is_initialized()  # the sweep shut down the local Ray it started
    killed = int((marks / "killed").read_text())
    attempts = sorted(p.name for p in marks.iterdir() if p.name.startswith("trial0-"))
    assert len(attempts) == 2 and f"trial0-pid{killed}" in attempts
    rows = {r["trial"]: r for r in read_rows(out)}
    assert rows[0]["pid"] != killed


def test_the_table_holds_each_trial_once_with_its_measured_error(sweep_with_a_killed_worker):
    out, _, _, _ = sweep_with_a_killed_worker
    rows = read_rows(out)
    assert sorted(r["trial"] for r in rows) == [0, 1]
    for r in rows:
        assert 0.0 <= r["error"] <= 1.0 and r["error"] == pytest.approx(1 - r["top1"])
        assert r["seconds"] > 0 and ModelSpec.from_dict(r["spec"]).widths[0] in (8, 16)
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


def test_the_trials_ran_in_two_worker_processes_side_by_side(sweep_with_a_killed_worker):
    out, marks, _, _ = sweep_with_a_killed_worker
    pids = {p.name.split("-pid")[1] for p in marks.iterdir() if "-pid" in p.name}
    assert len(pids) >= 2 and os.getpid() not in {int(p) for p in pids}


def test_a_rerun_of_a_finished_sweep_runs_nothing(sweep_with_a_killed_worker):
    out, _, manifest, _ = sweep_with_a_killed_worker
    before = Path(out, "results.jsonl").read_text()

    def must_not_run(trial, recipe):
        raise AssertionError("a finished trial ran again")

    report = run_sweep(out, manifest, tiny_trials(2), trial_fn=must_not_run, log=lambda _: None)
    assert report.skipped == [0, 1] and not report.finished and not report.failed
    assert Path(out, "results.jsonl").read_text() == before


def test_a_trial_that_keeps_failing_is_reported_not_recorded(tmp_path):
    def always_fails(trial, recipe):
        raise ValueError(f"bad trial {trial['trial']}")

    manifest = make_manifest("tiny", 1, 0, (), TINY, RECIPE, workers=2)
    report = run_sweep(tmp_path, manifest, tiny_trials(1), trial_fn=always_fails, ray_init=RAY_INIT, log=lambda _: None)
    assert list(report.failed) == [0] and "bad trial 0" in report.failed[0]
    assert read_rows(tmp_path) == []


def test_one_ray_worker_runs_several_trials_and_records_each_once(tmp_path):
    """One CPU, three trials: one worker process runs them all (imports and data paid once)."""
    trials = [{**t, "trial": i} for i, t in enumerate(tiny_trials(2) + tiny_trials(1))]
    manifest = make_manifest("tiny", 3, 0, (), TINY, RECIPE, workers=1)
    report = run_sweep(tmp_path, manifest, trials, ray_init=RAY_INIT, log=lambda _: None)
    rows = read_rows(tmp_path)
    assert sorted(report.finished) == [0, 1, 2] and sorted(r["trial"] for r in rows) == [0, 1, 2]
    assert len({r["pid"] for r in rows}) == 1
    assert sorted(r["worker_trial"] for r in rows) == [1, 2, 3]
    assert rows[-1]["timings"]["data"] < rows[0]["timings"]["data"]  # the data was opened by the first trial only
