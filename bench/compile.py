"""Train-step compile seconds, first and from the persistent cache, each in a fresh process.

    python bench/compile.py [--cases regnetx32,regnetx_032,my_net]

A case's step (forward, cross-entropy, backward, SGD-Nesterov; bench/perf.py's) is compiled
in a new Python process with an empty cache folder (first compile), then in a second process
with the same folder (cached: JAX loads the program). Tracing and lowering to StableHLO run
in Python every time and are reported apart from XLA's compile, which the cache skips. `my_net` (the plugin tutorial's
depthwise inverted-residual model) is also compiled with ZOO_CONV_LOWERING=xla for the
comparison the issue asks for. Wall seconds of lower + compile, as the process sees them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {"regnetx32": (128, 96), "regnetx_032": (8, 224), "my_net": (32, 64)}


def child(name: str, lowering: str) -> None:

    sys.path.insert(0, str(Path(__file__).parent))
    from perf import batch, zoo_train_step_compile_seconds

    import zoo
    from zoo.compilation_cache import enable_compilation_cache

    enable_compilation_cache()
    n, size = CASES[name]
    channels = zoo.create(name).spec.in_channels
    x, y = batch(n, size, channels)
    lower_s, compile_s = zoo_train_step_compile_seconds(name, x, y, lowering)
    print(f"RESULT {lower_s:.2f} {compile_s:.2f}")


def run(name: str, lowering: str, folder: str) -> tuple[float, float]:
    env = dict(os.environ, ZOO_COMPILATION_CACHE=folder)
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--lowering", lowering],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return float(line.split()[1]), float(line.split()[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="regnetx32,regnetx_032,my_net")
    parser.add_argument("--child")
    parser.add_argument("--lowering", default="auto")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.lowering)
        return
    rows = []
    for name in args.cases.split(","):
        lowerings = ["auto", "xla"] if name == "my_net" else ["auto"]
        for lowering in lowerings:
            with tempfile.TemporaryDirectory() as folder:
                first = run(name, lowering, folder)
                cached = run(name, lowering, folder)
            n, size = CASES[name]
            rows.append((f"{name} b{n} {size}px [{lowering}]", *first, *cached))
            print(f"  {rows[-1][0]}: trace+lower, compile: first {first}, cached {cached} s", flush=True)
    print()
    print("seconds; trace+lower is Python tracing to StableHLO (not cached), compile is XLA's (cached)")
    print(
        f"{'train step':<34} {'lower':>6} {'compile':>8} {'cached lower':>12} {'compile':>8} {'compile first/cached':>20}"
    )
    for label, lo, co, lo2, co2 in rows:
        print(f"{label:<34} {lo:>6.1f} {co:>8.1f} {lo2:>12.1f} {co2:>8.2f} {co / co2:>20.1f}")


if __name__ == "__main__":
    main()
