"""`run_sweep`: draw a sweep's trials, train the unfinished ones in parallel through Ray, record each.

The trials of a sweep are a pure function of its manifest (space, seed, bands, base spec):
trial i is draw i, so a rerun recomputes the same trials, skips those the table holds and
runs the rest. Ray runs each trial as a task with `max_retries`, so a worker that dies
mid-trial is replaced and the trial runs again; only the driver writes the table, one
atomic append per finished trial, so no trial is lost or counted twice.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.design.sampling import Band, draw_many
from zoo.errors import SweepError
from zoo.plugins import manager
from zoo.spec import ModelSpec, StageSpec
from zoo.sweep.table import append_row, open_sweep, read_rows
from zoo.sweep.trial import SINGLE_THREAD_FLAGS, run_trial

FORMAT = 1
WEIGHTS_DIR = "weights"


@dataclass
class SweepReport:
    """What one `run_sweep` call did: trials skipped (already done), finished now, and failed."""

    skipped: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


def make_manifest(
    space: str,
    n: int,
    seed: int,
    bands: tuple[Band, ...],
    base: ModelSpec,
    recipe: Mapping[str, Any],
    workers: int = 2,
    address: str | None = None,
) -> dict[str, Any]:
    """The description of a sweep saved as DIR/sweep.json (everything but n/workers/address is fixed)."""
    base_fields = {k: v for k, v in base.to_dict().items() if k != "stages"}
    return {
        "format": FORMAT,
        "space": space,
        "n": int(n),
        "seed": int(seed),
        "bands": {b.measure: b.to_text() for b in bands},
        "base": base_fields,
        "recipe": dict(recipe),
        "workers": int(workers),
        "address": address,
    }


def plan_trials(manifest: Mapping[str, Any], rule: Any, bands: tuple[Band, ...]) -> list[dict[str, Any]]:
    """Trials 0..n-1 of a manifest: each a plain dict (index, space, params, spec, complexity)."""
    base = ModelSpec.from_dict({**manifest["base"], "stages": [StageSpec(1, 8, 8).to_dict()]})
    samples = draw_many(rule, base, manifest["seed"], manifest["n"], bands, plugins=manager())
    return [
        {
            "trial": s.index,
            "space": manifest["space"],
            "sweep_seed": manifest["seed"],
            "params": s.params,
            "spec": s.spec.to_dict(),
            "complexity": s.complexity,
            "draws": s.tries,
        }
        for s in samples
    ]


def run_sweep(
    out: str | os.PathLike,
    manifest: Mapping[str, Any],
    trials: list[dict[str, Any]],
    *,
    trial_fn: Callable[[dict, dict], dict] = run_trial,
    max_retries: int = 3,
    ray_init: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    keep_weights: bool = False,
) -> SweepReport:
    """Run every trial of `trials` that DIR's table lacks; record each as it finishes.

    `manifest['workers']` > 0 runs trials as Ray tasks (a local Ray with that many CPUs, or
    the cluster at `manifest['address']`); 0 runs them one by one in this process.
    `keep_weights` has each worker save its trained model to DIR/weights/trial-NNNN.safetensors
    (a path every worker must reach: a local Ray, or a folder the cluster shares).
    """
    out = Path(out)
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    open_sweep(out, manifest)
    rows = read_rows(out)
    _check_same_draws(out, rows, trials)
    done = {row["trial"] for row in rows}
    report = SweepReport(skipped=sorted(t["trial"] for t in trials if t["trial"] in done))
    todo = [t for t in trials if t["trial"] not in done]
    if keep_weights:
        todo = [{**t, "weights_path": str(weights_file(out, t["trial"]).resolve())} for t in todo]
    if report.skipped:
        log(f"zoo sweep: {len(report.skipped)} trial(s) already in {out}, {len(todo)} to run")
    start = time.perf_counter()
    recipe = dict(manifest["recipe"])

    def record(row: dict[str, Any]) -> None:
        if row["trial"] in done:  # a retried task may report twice; the table keeps one row
            return
        if "weights_path" in row:  # the table holds the path relative to DIR, so the folder can move
            row = {k: v for k, v in row.items() if k != "weights_path"}
            row["weights"] = weights_file(Path("."), row["trial"]).as_posix()
        append_row(out, row)
        done.add(row["trial"])
        report.finished.append(row["trial"])
        log(
            f"zoo sweep: trial {row['trial']} error {row['error']:.4f} "
            f"({row['complexity']['flops'] / 1e6:.2f} MF, {row['seconds']:.0f}s) [{len(done)}/{len(trials)}]"
        )

    if todo and int(manifest.get("workers", 0)) <= 0:
        for trial in todo:
            try:
                record(trial_fn(trial, recipe))
            except Exception as err:  # noqa: BLE001 - one failed trial must not end the sweep
                report.failed[trial["trial"]] = f"{type(err).__name__}: {err}"
    elif todo:
        _run_with_ray(todo, recipe, manifest, trial_fn, max_retries, dict(ray_init or {}), record, report)
    report.seconds = time.perf_counter() - start
    for index, why in sorted(report.failed.items()):
        log(f"zoo sweep: trial {index} FAILED ({why}); rerun the same command to retry it")
    return report


def weights_file(out: Path, trial: int) -> Path:
    """Where `--keep-weights` puts a trial's trained weights: DIR/weights/trial-NNNN.safetensors."""
    return Path(out) / WEIGHTS_DIR / f"trial-{trial:04d}.safetensors"


def _check_same_draws(out: Path, rows: list[dict[str, Any]], trials: list[dict[str, Any]]) -> None:
    """SweepError if a recorded trial's spec is not the one its index draws now (the sampler changed)."""
    planned = {t["trial"]: t["spec"] for t in trials}
    changed = [r["trial"] for r in rows if r["trial"] in planned and r["spec"] != planned[r["trial"]]]
    if changed:
        raise SweepError(
            f"{out}: trial(s) {changed[:5]} were recorded with other specs than the space draws now "
            "(its sampler or rule changed since); finish this sweep with the old code or start a new "
            "--out directory"
        )


def _run_with_ray(todo, recipe, manifest, trial_fn, max_retries, ray_init, record, report) -> None:
    try:
        import ray
    except ImportError:
        raise SweepError(
            "sweeps run their trials through Ray: `pip install ray` (or 'anynet-zoo[sweep]'), "
            "or pass --workers 0 to run them one by one in this process"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        address = manifest.get("address")
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            options["address"] = address
        else:
            options.update(num_cpus=int(manifest["workers"]), object_store_memory=100 * 1024**2)
        options.update(ray_init)
        ray.init(**options)
    env = {"XLA_FLAGS": SINGLE_THREAD_FLAGS, "TF_CPP_MIN_LOG_LEVEL": "3"}
    remote = ray.remote(trial_fn).options(
        num_cpus=1, max_retries=max_retries, retry_exceptions=False, runtime_env={"env_vars": env}
    )
    try:
        pending = {remote.remote(trial, recipe): trial["trial"] for trial in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                index = pending.pop(ref)
                try:
                    record(ray.get(ref))
                except ray.exceptions.RayError as err:
                    report.failed[index] = _short(err)
    finally:
        if started_here:
            ray.shutdown()


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1] if text else ''}"[:300]
