"""The fused BatchNorm(+ReLU) custom-VJP op against flax's BatchNorm under autodiff, in whole train steps.

    python bench/bn_fusion.py [--repeats 7]

Each model's train step (forward, cross-entropy, backward, SGD-Nesterov) is compiled twice, with
`zoo.nn.layers.BatchNorm.fuse` on and off, and the two are timed in interleaved rounds; medians,
then the ratio (flax path / fused: above 1 means the fused op is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import optax
from flax import nnx

import zoo
from zoo.nn.layers import BatchNorm

CASES = {"regnetx32 b128 96px": ("regnetx32", 128, 96), "regnetx_002 b32 112px": ("regnetx_002", 32, 112)}


def compiled_step(name: str, n: int, size: int, fuse: bool):
    model = zoo.create(name)
    model.train()
    kx, ky = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (n, size, size, model.spec.in_channels))
    y = jax.random.randint(ky, (n,), 0, model.spec.num_classes)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.sgd(0.05, momentum=0.9, nesterov=True)
    state = [params, rest, tx.init(params)]

    def step(params, rest, opt, x, y):
        net = nnx.merge(graphdef, params, rest)
        loss, grads = nnx.value_and_grad(lambda net: optax.softmax_cross_entropy_with_integer_labels(net(x), y).mean())(
            net
        )
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), nnx.state(net, nnx.Not(nnx.Param)), opt, loss

    BatchNorm.fuse = fuse
    try:
        start = time.perf_counter()
        jitted = jax.jit(step).lower(*state, x, y).compile()
        compile_s = time.perf_counter() - start
    finally:
        BatchNorm.fuse = True

    def run():
        jitted(*state, x, y)[-1].block_until_ready()

    return run, compile_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{'case':<24} {'flax ms':>9} {'fused ms':>9} {'compile flax/fused s':>21} {'ratio':>6}")
    for label, (name, n, size) in CASES.items():
        runs = {}
        compile_s = {}
        for fuse in (False, True):
            runs[fuse], compile_s[fuse] = compiled_step(name, n, size, fuse)
            runs[fuse]()
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for fuse, run in runs.items():
                start = time.perf_counter()
                run()
                times[fuse].append(time.perf_counter() - start)
        plain, fused = (statistics.median(times[f]) * 1000 for f in (False, True))
        print(
            f"{label:<24} {plain:9.1f} {fused:9.1f} {compile_s[False]:10.1f} / {compile_s[True]:<8.1f} {plain / fused:6.2f}x"
        )


if __name__ == "__main__":
    main()
