"""Where a sweep trial's time goes, before and after the trial worker, on the same sampled models.

    python bench/sweep_trial.py --space regnet --n 3

`before`: each trial as the first sweeps ran it: a fresh process (imports), `zoo.train.fit`
(data opened, per-epoch evaluation with precise BN, no compile cache). `after`: one
`TrialWorker` process running the trials one after another (its first trial pays the data and
import costs). Both on the old setting (16 px, stride-2 stem, 6 epochs, 2-4 MFLOPs), then the
worker on the new default setting (zoo.sweep.defaults). Prints per-part seconds, trials per hour
per core, and the ratios. Run it on a quiet machine and compare only numbers from one run.
`before` runs this checkout's initialisers and lowering rule; for the code the first sweeps
really ran, run the script from a worktree of that commit (bench/NOTES.md says which).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

OLD_RECIPE = {
    "epochs": 6,
    "batch_size": 32,
    "lr": 0.05,
    "optimizer": "nesterov",
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "warmup_epochs": 1.0,
    "augment": True,
    "dataset": "digits",
    "image_size": 16,
}
OLD_SETTING = {"image_size": 16, "stem": "simple", "stem_width": 16, "flops": "2M:4M"}
# The Fashion-MNIST experiment's setting and recipe (issue 23; bench/NOTES.md section 19).
FASHION_SETTING = {
    "image_size": 28,
    "stem": "simple",
    "stem_width": 16,
    "flops": "2M:4M",
    "options": {"zero_init_last_bn": True},
}
FASHION_CHANGES = {"dataset": "fashion_mnist", "epochs": 1, "batch_size": 128, "lr": 0.2, "warmup_epochs": 0.1,
                   "augment": False}  # fmt: skip

_OLD_TRIAL = """
import json, sys, time
t0 = time.perf_counter()
import zoo
from zoo.nn.conv_lowering import conv_lowering
from zoo.train.config import TrainConfig
from zoo.train.loop import fit
t1 = time.perf_counter()
trial, recipe = json.load(open(sys.argv[1]))
config = TrainConfig.from_dict(recipe).replace(seed=trial["trial"])
model = zoo.create(zoo.ModelSpec.from_dict(trial["spec"]), seed=config.seed)
with conv_lowering("blockdiag"):
    result = fit(model, config, progress=False)
t2 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "fit": t2 - t1, "error": 1 - result.test["top1"]}))
"""


def trials_for(space: str, n: int, setting: dict, seed: int = 0) -> list[dict]:
    import zoo
    from zoo.design.sampling import parse_band
    from zoo.sweep.runner import plan_trials

    base = zoo.ModelSpec(
        stages=(zoo.StageSpec(1, 8, 8),),
        stem=setting["stem"],
        stem_width=setting["stem_width"],
        num_classes=10,
        in_channels=1,
        input_size=setting["image_size"],
        options=setting.get("options", {}),
    )
    band = parse_band(setting["flops"], "flops")
    manifest = {"space": space, "n": n, "seed": seed, "base": {k: v for k, v in base.to_dict().items()}}
    return plan_trials(manifest, zoo.get_component("rule", space), (band,))


def run_before(trials: list[dict]) -> list[dict]:
    """Each trial in a fresh interpreter (what a one-trial-per-process worker pays)."""
    rows = []
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": ""}
    for trial in trials:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump([trial, OLD_RECIPE], handle)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _OLD_TRIAL, handle.name], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        os.unlink(handle.name)
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["start"] = wall - row["imports"] - row["fit"]
        row["total"] = wall
        rows.append(row)
    return rows


def run_after(trials: list[dict], recipe: dict) -> list[dict]:
    """All trials in this one process on one TrialWorker."""
    t0 = time.perf_counter()
    from zoo.sweep.worker import TrialWorker

    worker = TrialWorker()
    imports = time.perf_counter() - t0
    rows = []
    for trial in trials:
        row = worker.run(trial, recipe)
        rows.append({**row["timings"], "imports": imports if not rows else 0.0, "error": row["error"]})
        rows[-1]["total"] = row["seconds"] + rows[-1]["imports"]
    return rows


def show(name: str, rows: list[dict]) -> float:
    parts = sorted({k for r in rows for k in r if k not in ("error", "total")})
    print(f"\n{name}: {len(rows)} trials")
    print("  " + "  ".join(f"{p:>8}" for p in [*parts, "total", "error%"]))
    for r in rows:
        print("  " + "  ".join(f"{r.get(p, 0.0):8.2f}" for p in [*parts, "total"]) + f"  {100 * r['error']:8.2f}")
    mean = sum(r["total"] for r in rows) / len(rows)
    median = statistics.median(r["total"] for r in rows)
    print(f"  mean {mean:.2f} s/trial, median {median:.2f} -> {3600 / mean:.0f} trials per hour per core")
    return mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="regnet")
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--skip-old", action="store_true", help="skip the worker on the old setting too")
    parser.add_argument(
        "--fashion-mnist", action="store_true", help="only the worker on the Fashion-MNIST experiment's setting"
    )
    args = parser.parse_args()
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    from zoo.sweep.defaults import DEFAULT_SETTING, default_recipe

    if args.fashion_mnist:
        recipe = default_recipe(**FASHION_CHANGES, image_size=FASHION_SETTING["image_size"])
        show(
            "one TrialWorker, Fashion-MNIST setting", run_after(trials_for(args.space, args.n, FASHION_SETTING), recipe)
        )
        return
    old_trials = [] if args.skip_before and args.skip_old else trials_for(args.space, args.n, OLD_SETTING)
    means = {}
    if not args.skip_before:
        means["before (old setting)"] = show("before: fresh process + fit, old setting", run_before(old_trials))
    if not args.skip_old:
        means["worker (old setting)"] = show("after: one TrialWorker, old setting", run_after(old_trials, OLD_RECIPE))
    new_trials = trials_for(args.space, args.n, DEFAULT_SETTING)
    means["worker (new default)"] = show(
        "after: one TrialWorker, new default setting", run_after(new_trials, default_recipe())
    )
    first = next(iter(means.values()))
    print("\nratios (first row / row, s per trial):")
    for name, mean in means.items():
        print(f"  {name:24} {mean:7.2f} s  {first / mean:5.2f}x")


if __name__ == "__main__":
    main()
