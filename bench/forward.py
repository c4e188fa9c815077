"""Forward throughput (img/s) of the seed and of RegNetX-3.2GF through zoo.compile_forward.

    python bench/forward.py [--repeats 5]

Median of repeats after compile; the spread (min..max) is printed beside it. A benchmark,
not a test: compare only numbers from one run on one machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

import zoo

CASES = [("regnetx32", 128, 96, 1), ("regnetx_032", 8, 224, 3)]


def measure(name: str, batch: int, size: int, channels: int, repeats: int) -> dict:
    x = jax.random.normal(jax.random.key(0), (batch, size, size, channels))
    model = zoo.create(name)
    start = time.perf_counter()
    forward = zoo.compile_forward(model, x)  # the product's inference path
    forward(x).block_until_ready()
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(x).block_until_ready()
        times.append(time.perf_counter() - start)
    rates = [batch / t for t in times]
    flops = zoo.complexity(name, size)["flops"] * batch
    median = statistics.median(times)
    return {
        "model": name,
        "batch": batch,
        "input": f"{size}x{size}x{channels}",
        "img/s": batch / median,
        "min": min(rates),
        "max": max(rates),
        "GFLOP/s": 2 * flops / median / 1e9,
        "compile_s": compile_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {jax.device_count()} device(s)")
    rows = [measure(*case, args.repeats) for case in CASES]
    header = f"{'model':<12} {'batch':>5} {'input':>10} {'img/s':>8} {'spread':>15} {'GFLOP/s':>8} {'compile s':>9}"
    print(header)
    for r in rows:
        spread = f"{r['min']:.1f}..{r['max']:.1f}"
        print(
            f"{r['model']:<12} {r['batch']:>5} {r['input']:>10} {r['img/s']:>8.1f} {spread:>15} "
            f"{r['GFLOP/s']:>8.1f} {r['compile_s']:>9.1f}"
        )


if __name__ == "__main__":
    main()
