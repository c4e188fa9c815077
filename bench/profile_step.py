"""Where a train step's time goes, by op category, from XLA's own per-op timings.

    python bench/profile_step.py [--model regnetx32 --batch 128 --size 96] [--steps 5] [--donate]

Runs the train step bench/perf.py measures (forward, cross-entropy, backward, SGD-Nesterov)
under jax.profiler, reads the per-op (thunk) durations from the trace, and sums them by what
each op is in the compiled HLO: convolution, matrix product, reduction fusion (BN statistics,
pooling, the loss), elementwise fusion (BN apply, ReLU, the update), layout copies; split into
forward (under jvp), backward (under transpose) and the rest (the optimizer update). Prints
milliseconds per step per category, its share, and the effective GFLOP/s of the convs and
matmuls. A benchmark, not a test: compare only numbers from one run on one machine.
"""

from __future__ import annotations

import argparse
import collections
import glob
import re
import sys
import tempfile
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from perf import _zoo_step, batch  # noqa: E402

_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+) = [^=]*?\b([a-z][\w\-]*)\((.*)$")
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
shapes: dict[str, str] = {}  # instruction name -> its result shape and op_name tail, for --top
_SKIPPED_EVENTS = ("ThreadpoolListener", "end: ", "ThunkExecutor", "PjitFunction", "$")


def hlo_instructions(hlo_text: str) -> dict[str, tuple[str, str]]:
    """instruction name -> (category, direction) from a compiled module's HLO text."""
    bodies: dict[str, list[str]] = collections.defaultdict(list)
    current = None
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header and "=" not in line.split("{")[0]:
            current = header.group(1)
            continue
        if current:
            bodies[current].append(line)

    def ops_in(computation: str, seen: set[str]) -> set[str]:
        found = set()
        for line in bodies.get(computation, []):
            match = _INSTRUCTION.match(line)
            if match:
                found.add(match.group(2))
            for callee in _CALLS.findall(line):
                if callee not in seen:
                    seen.add(callee)
                    found |= ops_in(callee, seen)
        return found

    table = {}
    shapes.clear()
    for lines in bodies.values():
        for line in lines:
            match = _INSTRUCTION.match(line)
            if not match:
                continue
            name, opcode = match.group(1), match.group(2)
            op_name = (_OP_NAME.search(line) or [None, ""])[1]
            direction = "bwd" if "transpose(" in op_name else "fwd" if "jvp(" in op_name else "update/other"
            inner = {opcode}
            if opcode == "fusion":
                inner = ops_in(_CALLS.search(line).group(1), set()) if _CALLS.search(line) else set()
            table[name] = (_category(opcode, inner, name), direction)
            shapes[name] = line.split("=", 1)[1].split("(")[0].strip()[:60] + "  " + op_name[-70:]
    return table


def _category(opcode: str, inner: set[str], name: str = "") -> str:
    if "convolution" in inner:
        return "convolution"
    if "dot" in inner:
        return "matmul (1x1 convs, head)"
    if opcode in ("copy", "transpose") or name.startswith(("transpose", "copy")):
        return "layout copy/transpose"
    if "reduce" in inner or "reduce-window" in inner:
        return "reduction (BN stats, pool, loss)"
    if opcode == "fusion":
        return "elementwise (BN apply, ReLU, SGD)"
    return f"other ({opcode})"


def op_durations(trace_dir: str) -> dict[str, float]:
    """Total microseconds per XLA op name over every CPU thread of the trace."""
    from jax._src.lib import _profile_data

    path = glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True)[0]
    totals: dict[str, float] = collections.defaultdict(float)
    for plane in _profile_data.ProfileData.from_file(path).planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                if not event.name.startswith(_SKIPPED_EVENTS):
                    totals[event.name] += event.duration_ns / 1e3
    return totals


def profile(model: str, n: int, size: int, steps: int, donate: bool, top: int = 0) -> None:
    import zoo

    channels = zoo.api.resolve_spec(model).in_channels
    x, y = batch(n, size, channels)
    step, state = _zoo_step(model, x, y)
    compiled = jax.jit(step, donate_argnums=(0, 1, 2) if donate else ()).lower(*state, x, y).compile()
    table = hlo_instructions(compiled.as_text())
    for _ in range(2):
        *state[:3], loss = compiled(*state, x, y)
        loss.block_until_ready()
    with tempfile.TemporaryDirectory() as trace_dir:
        start = time.perf_counter()
        with jax.profiler.trace(trace_dir):
            for _ in range(steps):
                *state[:3], loss = compiled(*state, x, y)
                loss.block_until_ready()
        wall = (time.perf_counter() - start) / steps
        totals = op_durations(trace_dir)

    by_category: dict[tuple[str, str], float] = collections.defaultdict(float)
    unknown = 0.0
    for name, micros in totals.items():
        if name in table:
            by_category[table[name]] += micros / steps
        else:
            unknown += micros / steps
    ops_total = sum(by_category.values()) + unknown
    print(f"\n{model} train step, batch {n}, {size}x{size}x{channels}, donate={donate}: {1e3 * wall:.1f} ms wall/step")
    print(f"  sum of op times {ops_total / 1e3:.1f} ms/step (over all threads; above wall when ops overlap)")
    print(f"  {'category':36} {'dir':13} {'ms/step':>8} {'share':>6}")
    for (category, direction), micros in sorted(by_category.items(), key=lambda kv: -kv[1]):
        print(f"  {category:36} {direction:13} {micros / 1e3:8.1f} {100 * micros / ops_total:5.1f}%")
    if unknown:
        print(f"  {'(ops not in the entry HLO)':36} {'':13} {unknown / 1e3:8.1f} {100 * unknown / ops_total:5.1f}%")
    for name, micros in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {micros / steps / 1e3:7.1f} ms  {name:32} {shapes.get(name, '?')}")


def compare_donation(model: str, n: int, size: int, repeats: int) -> None:
    """Median step time with and without donating the state, interleaved in one process."""
    import statistics

    import zoo

    channels = zoo.api.resolve_spec(model).in_channels
    x, y = batch(n, size, channels)
    runs = {}
    for donate in (False, True):
        step, state = _zoo_step(model, x, y)
        runs[donate] = [jax.jit(step, donate_argnums=(0, 1, 2) if donate else ()).lower(*state, x, y).compile(), state]
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats + 1):
        for donate, (compiled, state) in runs.items():
            start = time.perf_counter()
            *state[:3], loss = compiled(*state, x, y)
            loss.block_until_ready()
            times[donate].append(time.perf_counter() - start)
    plain, donated = (statistics.median(times[d][1:]) for d in (False, True))
    print(f"{model} b{n}: step {1e3 * plain:.1f} ms plain, {1e3 * donated:.1f} ms donated: {plain / donated:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="regnetx32")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--donate", action="store_true", help="donate the parameters, statistics and optimizer state")
    parser.add_argument("--top", type=int, default=0, help="also list the N slowest ops")
    parser.add_argument("--compare-donation", type=int, metavar="REPEATS", default=0, help="time donated vs not")
    args = parser.parse_args()
    if args.compare_donation:
        compare_donation(args.model, args.batch, args.size, args.compare_donation)
        return
    profile(args.model, args.batch, args.size, args.steps, args.donate, args.top)


if __name__ == "__main__":
    main()
