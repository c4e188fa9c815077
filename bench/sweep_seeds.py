"""Seed noise against model differences: the same sampled models trained with several seeds.

    python bench/sweep_seeds.py --space regnet --models 3 --seeds 3 [--epochs 10]
    python bench/sweep_seeds.py --dataset fashion_mnist --space anynetx_a --space regnet \\
        --models 3 --seeds 3 --epochs 1 --batch-size 128 --lr 0.2 --no-augment --workers 2 --rerun

A design-space comparison can only decide if training one model twice gives nearly the same
error while different models give different errors. This trains the first `--models` draws
of each `--space` (the default sweep setting of zoo.sweep.defaults, with the flags' changes)
`--seeds` times each, on `--workers` processes of one TrialWorker each (one XLA thread), and
prints every error, the pooled within-model standard deviation (seed noise) and the standard
deviation of the models' mean errors (model spread), with their ratio; `--rerun` trains
(first model, first seed) once more on another worker and says whether it is bitwise equal.
`--json FILE` writes the figures (the schema zoo.sweep.report reads as seed noise).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _train(job: tuple[dict, dict]) -> dict:
    from zoo.sweep.worker import process_worker

    trial, recipe = job
    row = process_worker().run(trial, recipe)
    return {
        k: row[k] for k in ("trial", "space", "error", "loss", "train_loss", "seconds", "timings", "complexity")
    } | {
        "seed": recipe["seed"],
        "pid": os.getpid(),
    }


def _setting_and_recipe(args) -> tuple[dict, dict]:
    from zoo.sweep.defaults import DEFAULT_SETTING, default_recipe

    setting = {
        **DEFAULT_SETTING,
        **{k: v for k, v in {"image_size": args.image_size, "flops": args.flops, "stem": args.stem}.items() if v},
    }
    changes = {
        "dataset": args.dataset,
        "image_size": setting["image_size"],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "warmup_epochs": args.warmup_epochs,
        "weight_decay": args.weight_decay,
    }
    recipe = default_recipe(**{k: v for k, v in changes.items() if v is not None})
    if args.no_augment:
        recipe["augment"] = False
    return setting, recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", action="append", default=None, help="repeat for several spaces (default regnet)")
    parser.add_argument("--models", type=int, default=3, help="draws per space")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--flops", default=None)
    parser.add_argument("--stem", default=None, help="stem component (default: the sweep default, stride-1 cifar)")
    parser.add_argument("--epochs", type=int, default=None, help="override the default recipe's epochs")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--warmup-epochs", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="processes, one XLA thread each")
    parser.add_argument("--rerun", action="store_true", help="train (first model, first seed) again: bitwise equal?")
    parser.add_argument("--json", default=None, help="write the figures to FILE")
    args = parser.parse_args()
    os.environ.setdefault("XLA_FLAGS", SINGLE_THREAD)
    from sweep_trial import trials_for

    setting, recipe = _setting_and_recipe(args)
    spaces = args.space or ["regnet"]
    trials = [(space, t) for space in spaces for t in trials_for(space, args.models, setting)]
    jobs = [(t, {**recipe, "seed": 1000 * s}) for _, t in trials for s in range(args.seeds)]
    if args.rerun:
        jobs.append(jobs[0])
    print(f"{spaces}: {args.models} models x {args.seeds} seeds; setting {setting}; recipe {recipe}", flush=True)
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        results = list(pool.map(_train, jobs))
    wall = time.perf_counter() - start
    rerun = results.pop() if args.rerun else None
    errors: dict[str, list[float]] = {}
    for row in results:
        errors.setdefault(f"{row['space']}#{row['trial']}", []).append(100 * row["error"])
    for (key, errs), space_trial in zip(errors.items(), trials):
        rows = [r for r in results if f"{r['space']}#{r['trial']}" == key]
        mflops = space_trial[1]["complexity"]["flops"] / 1e6
        seconds = [round(r["seconds"], 1) for r in rows]
        print(f"  {key:14} {mflops:5.2f} MF  errors % {[round(e, 2) for e in errs]}  s {seconds}")
    within = statistics.mean(statistics.pvariance(e) for e in errors.values()) ** 0.5
    between = statistics.pstdev(statistics.mean(e) for e in errors.values())
    ratio = between / within if within else float("inf")
    seconds = statistics.median(r["seconds"] for r in results)
    parts = {p: statistics.median(r["timings"].get(p, 0.0) for r in results) for p in results[0]["timings"]}
    print(f"seed noise (pooled within-model std) {within:.2f} points")
    print(f"model spread (std of the models' mean errors) {between:.2f} points")
    print(f"ratio model spread / seed noise {ratio:.2f} (goal >= 3)")
    print(
        f"median s/trial {seconds:.1f} (parts: {', '.join(f'{k} {v:.1f}' for k, v in parts.items())}); wall {wall:.0f}s"
    )
    same = None
    if rerun is not None:
        first = results[0]
        same = (first["error"], first["loss"], first["train_loss"]) == (
            rerun["error"],
            rerun["loss"],
            rerun["train_loss"],
        )
        where = "another process" if rerun["pid"] != first["pid"] else "the same process"
        print(f"rerun of {first['space']}#{first['trial']} seed {first['seed']} in {where}: "
              f"{'bitwise equal' if same else 'DIFFERS'} (loss {first['loss']!r} vs {rerun['loss']!r})")  # fmt: skip
    if args.json:
        figures = {
            "spaces": spaces,
            "models": len(errors),
            "seeds": args.seeds,
            "errors": list(errors.values()),  # one list per model, in `model_names`' order
            "model_names": list(errors),
            "within_sd": within,
            "between_sd": between,
            "ratio": ratio,
            "median_seconds": seconds,
            "median_parts": parts,
            "bitwise_rerun_equal": same,
            "setting": setting,
            "recipe": recipe,
            "source": "python bench/sweep_seeds.py " + " ".join(sys.argv[1:]),
        }
        Path(args.json).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
