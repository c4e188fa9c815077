"""One trial of a sweep: train one sampled spec with the sweep's fixed recipe and measure its error.

`run_trial` is a plain function of plain data (a dict in, a dict out), so Ray can ship it
to any worker, run it again after a crash, and the driver can record what it returns. It
runs on its process's `TrialWorker`, so a Ray worker that runs several trials pays its
imports, data loading and cache setup once.
"""

from __future__ import annotations

from typing import Any

from zoo.sweep.worker import process_worker, recipe_config

__all__ = ["SINGLE_THREAD_FLAGS", "recipe_config", "run_trial"]

# One XLA thread per trial: trials run side by side, one per worker, on shared cores.
SINGLE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def run_trial(trial: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """Train `trial['spec']` (a ModelSpec dict) with `recipe` (TrainConfig settings) -> its results row.

    The row carries the trial index, space, seeds, params, spec, complexity (and the draws the
    band took), final test error (1 - top-1), loss, wall time and its parts (`timings`), the
    host and process that ran it, and `worker_trial`: how many trials that process had run. With
    `trial['weights_path']` the trained model is saved there and the row names it (`weights_path`).
    """
    return process_worker().run(trial, recipe)
