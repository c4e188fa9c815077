"""Where an epoch of the README's main job (`zoo train regnetx32` on digits) spends its time:
training steps, precise BN, evaluation; and how many images precise BN needs to converge.

    python bench/epoch_overhead.py [--epochs 2] [--images 2048,512,256,128]

Per epoch it prints step seconds, then for each precise-BN image count the refresh seconds and the
eval seconds, and the top-1 each count gives (the largest count is the reference). Timings on a
shared machine are noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from zoo.data import iterate_batches
from zoo.train import TrainConfig
from zoo.train.epoch import EpochMeter, run_epoch
from zoo.train.evaluate import EvalSet, Evaluator, eval_batch_size, even_batch_size, jit_eval_step, run_eval
from zoo.train.precise_bn import PreciseBN
from zoo.train.run import open_run
from zoo.train.sharding import data_mesh
from zoo.train.state import compile_step, init_state


def seconds(fn):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="regnetx32")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--images", default="2048,512,256,128")
    parser.add_argument("--eval-batch", type=int, default=0, help="0: fit's default (max(batch, 256))")
    args = parser.parse_args()
    counts = [int(c) for c in args.images.split(",")]
    config = TrainConfig(epochs=args.epochs)
    mesh = data_mesh()
    run = open_run(args.model, config)
    graphs, state = init_state(run.model, config, run.steps_per_epoch, mesh)
    size = args.eval_batch or eval_batch_size(max(config.batch_size, 256), mesh.size)
    even = even_batch_size(len(run.test), size, mesh.size)
    step = compile_step(graphs, state, config, (32, 32, 32, run.eval_pipe.channels))
    precise = {n: PreciseBN(graphs, state, run.train, run.train_pipe, images=n, batch_size=32, seed=0) for n in counts}
    streamed = jit_eval_step(graphs.eval, mesh)
    evaluator = Evaluator(graphs.eval, EvalSet.prepare(run.test, run.eval_pipe, even), mesh)
    print(f"{args.model}: {run.steps_per_epoch} steps/epoch, eval batch {size} (streamed) / {even} (cached), "
          f"devices {mesh.size}")  # fmt: skip
    for epoch in range(args.epochs):
        batches = iterate_batches(run.train, run.train_pipe, 32, train=True, seed=0, epoch=epoch)
        t0 = time.perf_counter()
        state, meter = run_epoch(step, state, batches, mesh=mesh, epoch=epoch, steps_per_epoch=run.steps_per_epoch,
                                 meter=EpochMeter(32))  # fmt: skip
        steps = time.perf_counter() - t0
        print(f"epoch {epoch + 1}: steps {steps:.2f} s ({steps / run.steps_per_epoch * 1000:.0f} ms/step)")
        reference = None
        for n in counts:
            refreshed, bn_s = seconds(lambda n=n, s=state, e=epoch: precise[n](s, e))
            reference = refreshed.rest if reference is None else reference
            drift = statistics_drift(refreshed.rest, reference)
            old, old_s = seconds(
                lambda r=refreshed: run_eval(streamed, r.params, r.rest, run.test, run.eval_pipe, size, mesh)
            )
            new, new_s = seconds(lambda r=refreshed: evaluator(r.params, r.rest))
            print(f"  precise BN {n:5d} images ({precise[n].count:2d} batches): {bn_s:.2f} s | "
                  f"eval streamed {old_s:.2f} s, cached {new_s:.2f} s | top-1 {new['top1']:.4f} "
                  f"(streamed {old['top1']:.4f}) | BN stats vs {counts[0]}: {drift}")  # fmt: skip


def statistics_drift(rest, reference) -> str:
    """How far each BN layer's statistics lie from the reference's: the median and the largest
    relative L2 difference over the layers' means (and variances)."""
    stats = rest
    diffs: dict[str, list[float]] = {"mean": [], "var": []}
    for (path, a), (_, b) in zip(
        jax.tree_util.tree_leaves_with_path(stats), jax.tree_util.tree_leaves_with_path(reference)
    ):
        name = jax.tree_util.keystr(path)
        kind = "mean" if "mean" in name else "var" if "var" in name else None
        if kind:
            a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
            diffs[kind].append(float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)))
    return ", ".join(f"{k} median {np.median(v):.4f} max {np.max(v):.4f}" for k, v in diffs.items() if v)


if __name__ == "__main__":
    main()
