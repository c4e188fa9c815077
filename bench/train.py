"""Train-step throughput (img/s) of the seed, regnetx32, at batch 128 and 96x96x1.

    python bench/train.py [--batch 128] [--size 96] [--steps 5] [--model regnetx32]

The step is the one `zoo train` runs (forward, loss, backward, SGD update, BN statistics,
jitted whole, data parallel over the local devices). Prints the median step time after
compile, the compile time, peak RSS, and how fast the input pipeline feeds batches of the
same shape, so you can see whether data loading could starve the step. A benchmark, not a
test: compare only numbers from one run on one machine.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def bench_step(model_name: str, batch: int, size: int, steps: int) -> dict:
    import zoo
    from zoo.train import TrainConfig
    from zoo.train.optim import make_optimizer
    from zoo.train.sharding import batch_sharded, check_batch_size, data_mesh, place_batch, replicate, replicated
    from zoo.train.steps import TrainState, make_train_step, split_model

    mesh = data_mesh()
    check_batch_size(batch, mesh)
    model = zoo.create(model_name, input_size=size)
    channels = model.spec.in_channels
    config = TrainConfig(batch_size=batch, lr=0.05, image_size=size)
    tx = make_optimizer(config, steps_per_epoch=100)
    train_def, _, params, rest = split_model(model)
    state = replicate(
        mesh,
        TrainState(params, rest, tx.init(params), jnp.zeros((), jnp.int32), jax.random.key_data(jax.random.key(0))),
    )
    rep, bat = replicated(mesh), batch_sharded(mesh)
    step = jax.jit(
        make_train_step(train_def, tx), in_shardings=(rep, bat, bat), out_shardings=(rep, rep), donate_argnums=0
    )
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch, size, size, channels), dtype=np.float32)
    labels = rng.integers(0, model.spec.num_classes, batch).astype(np.int32)
    x, y = place_batch(mesh, images, labels)

    start = time.perf_counter()
    compiled = step.lower(state, x, y).compile()
    compile_s = time.perf_counter() - start
    state, metrics = compiled(state, x, y)  # first run: allocations, not counted
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = compiled(state, x, y)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "img/s": batch / median,
        "step_s": median,
        "min_img/s": batch / max(times),
        "max_img/s": batch / min(times),
        "compile_s": compile_s,
        "devices": mesh.size,
    }


def bench_input(batch: int, size: int, batches: int) -> float:
    """img/s of the digits input pipeline (read, normalise, resize, augment) at this batch shape."""
    from zoo.data import Pipeline, iterate_batches, normalization_for, open_split

    split = open_split("digits", "train")
    pipe = Pipeline(size, 1, normalization_for(split, 1), augment=True)
    start = time.perf_counter()
    n = 0
    for i, b in enumerate(iterate_batches(split, pipe, batch, train=True, seed=0, epoch=0)):
        n += len(b.labels)
        if i + 1 >= batches:
            break
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="regnetx32")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after compile")
    parser.add_argument("--no-input", action="store_true", help="skip the input-pipeline measurement")
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {jax.device_count()} device(s)")
    r = bench_step(args.model, args.batch, args.size, args.steps)
    print(
        f"train step  {args.model}  batch {args.batch}  {args.size}x{args.size}: "
        f"{r['img/s']:.1f} img/s median ({r['min_img/s']:.1f}..{r['max_img/s']:.1f}), "
        f"{r['step_s'] * 1000:.0f} ms/step, compile {r['compile_s']:.1f} s, {r['devices']} device(s)"
    )
    if not args.no_input:
        print(
            f"input pipeline (digits -> {args.size}x{args.size}, augmented): "
            f"{bench_input(args.batch, args.size, 8):.0f} img/s"
        )
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
