"""One trial of a sweep: train one sampled spec with the sweep's fixed recipe and measure its error.

`run_trial` is a plain function of plain data (a dict in, a dict out), so Ray can ship it
to any worker, run it again after a crash, and the driver can record what it returns.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

# One XLA thread per trial: trials run side by side, one per worker, on shared cores.
SINGLE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
# Sweeps train many small, short-lived models, so compile time counts as much as run time: one
# block-diagonal conv per layer compiles 2-3x faster than the per-group lowering and runs faster
# than XLA's grouped conv at small group widths (measured on digits at 16 px, 2 shared cores).
SWEEP_CONV_LOWERING = "blockdiag"


def recipe_config(recipe: dict[str, Any]):
    """The TrainConfig of a sweep's recipe (every trial trains with the same one)."""
    from zoo.train.config import TrainConfig

    return TrainConfig.from_dict(dict(recipe))


def run_trial(trial: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """Train `trial['spec']` (a ModelSpec dict) with `recipe` (TrainConfig settings) -> its results row.

    The row carries the trial index, space, seeds, params, spec, complexity (and the draws the
    band took), final test error (1 - top-1), loss, wall time and the host that ran it.
    """
    import zoo
    from zoo.nn.conv_lowering import conv_lowering
    from zoo.train.loop import fit

    spec = zoo.ModelSpec.from_dict(trial["spec"], where=f"trial {trial['trial']}")
    config = recipe_config(recipe).replace(seed=int(recipe.get("seed", 0)) + int(trial["trial"]))
    start = time.perf_counter()
    model = zoo.create(spec, seed=config.seed)
    with conv_lowering(trial.get("conv_lowering", SWEEP_CONV_LOWERING)):
        result = fit(model, config, progress=False)
    seconds = time.perf_counter() - start
    top1 = float(result.test["top1"])
    return {
        "trial": int(trial["trial"]),
        "space": trial["space"],
        "sweep_seed": int(trial["sweep_seed"]),
        "train_seed": config.seed,
        "params": trial["params"],
        "spec": trial["spec"],
        "complexity": trial["complexity"],
        "draws": trial.get("draws"),
        "error": 1.0 - top1,
        "top1": top1,
        "loss": float(result.test["loss"]),
        "train_loss": float(result.history[-1]["train_loss"]),
        "seconds": seconds,
        "conv_lowering": trial.get("conv_lowering", SWEEP_CONV_LOWERING),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
