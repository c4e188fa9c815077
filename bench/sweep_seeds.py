"""Seed noise against model differences: the same sampled models trained with several seeds.

    python bench/sweep_seeds.py --space regnet --models 3 --seeds 3 [--epochs 10]

A design-space comparison can only decide if training one model twice gives nearly the same
error while different models give different errors. This trains the first `--models` draws
of the default sweep setting (zoo.sweep.defaults) `--seeds` times each, on one TrialWorker,
and prints every error, the pooled within-model standard deviation (seed noise) and the
standard deviation of the models' mean errors (model spread), with their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="regnet")
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="override the default recipe's epochs")
    args = parser.parse_args()
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    from sweep_trial import trials_for

    from zoo.sweep.defaults import DEFAULT_SETTING, default_recipe
    from zoo.sweep.worker import TrialWorker

    recipe = default_recipe(**({"epochs": args.epochs} if args.epochs else {}))
    worker = TrialWorker()
    errors: dict[int, list[float]] = {}
    print(f"{args.space}: {args.models} models x {args.seeds} seeds, recipe epochs {recipe['epochs']}")
    for trial in trials_for(args.space, args.models, DEFAULT_SETTING):
        runs = [worker.run(trial, {**recipe, "seed": 1000 * s}) for s in range(args.seeds)]
        errors[trial["trial"]] = [100 * r["error"] for r in runs]
        seconds = [round(r["seconds"], 1) for r in runs]
        print(f"  model {trial['trial']}: errors % {[round(e, 2) for e in errors[trial['trial']]]}  s {seconds}")
    within = statistics.mean(statistics.pvariance(e) for e in errors.values()) ** 0.5
    between = statistics.pstdev(statistics.mean(e) for e in errors.values())
    print(f"seed noise (pooled within-model std) {within:.2f} points")
    print(f"model spread (std of the models' mean errors) {between:.2f} points")
    print(f"ratio model spread / seed noise {between / within if within else float('inf'):.1f}")


if __name__ == "__main__":
    main()
