"""bfloat16 vs float32 training on this machine: digits accuracy and train-step speed.

    python bench/precision.py [--seeds 0 1] [--epochs 10] [--steps 10] [--model regnetx32]

Accuracy: the README's digits recipe (zoo.train.fit defaults) once per seed and dtype.
Speed: the compiled train step of the same model at the digits shape (batch 32, 32x32x1),
the two dtypes timed alternately, medians over `--steps` steps each. A benchmark, not a test:
compare only numbers from one run on one machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np


def step_seconds(model_name: str, dtypes: list[str], steps: int, batch: int = 32, size: int = 32) -> dict[str, float]:
    import zoo
    from zoo.nn.precision import set_compute_dtype
    from zoo.train import TrainConfig
    from zoo.train.optim import make_optimizer
    from zoo.train.steps import TrainState, make_train_step, split_model

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, size, size, 1), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, batch).astype(np.int32))
    runs = {}
    for dtype in dtypes:
        model = set_compute_dtype(zoo.create(model_name, input_size=size, num_classes=10), dtype)
        tx = make_optimizer(TrainConfig(), steps_per_epoch=100)
        train_def, _, params, rest = split_model(model)
        state = TrainState(
            params, rest, tx.init(params), jnp.zeros((), jnp.int32), jax.random.key_data(jax.random.key(0))
        )
        compiled = jax.jit(make_train_step(train_def, tx)).lower(state, x, y).compile()
        state, metrics = compiled(state, x, y)
        jax.block_until_ready(metrics)
        runs[dtype] = [compiled, state, []]
    for _ in range(steps):
        for run in runs.values():
            start = time.perf_counter()
            run[1], metrics = run[0](run[1], x, y)
            jax.block_until_ready(metrics)
            run[2].append(time.perf_counter() - start)
    return {dtype: statistics.median(run[2]) for dtype, run in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="regnetx32")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    from zoo.train import fit

    dtypes = ["float32", "bfloat16"]
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    print("dtype     seed  top-1   loss    train s")
    accuracy: dict[str, list[float]] = {d: [] for d in dtypes}
    for seed in args.seeds:
        for dtype in dtypes:
            start = time.perf_counter()
            result = fit(args.model, epochs=args.epochs, seed=seed, dtype=dtype, progress=False)
            accuracy[dtype].append(result.test["top1"])
            print(
                f"{dtype:<9} {seed:<5} {result.test['top1']:.4f}  {result.test['loss']:.4f}  "
                f"{time.perf_counter() - start:.0f}"
            )
    seconds = step_seconds(args.model, dtypes, args.steps)
    print("dtype     mean top-1  step ms (median, batch 32, 32x32)  img/s")
    for dtype in dtypes:
        print(
            f"{dtype:<9} {np.mean(accuracy[dtype]):.4f}      {seconds[dtype] * 1000:7.1f}"
            f"                          {32 / seconds[dtype]:.0f}"
        )
    print(f"bf16 / f32 step-time ratio: {seconds['bfloat16'] / seconds['float32']:.2f}")


if __name__ == "__main__":
    main()
