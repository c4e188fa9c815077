"""Every conv lowering on the conv shapes of real models: which one the per-shape rule picks, and how far from the best.

    python bench/conv_shapes.py [--models regnetx32,my_net,regnetx_002,regnetx_032] [--anynetx] [--repeats 3]

Shapes come from the models themselves: each model's forward is traced with XLA's lowering
and every conv_general_dilated in the program is collected (deduplicated), at the batch
and input size its users run it with (regnetx32 128 x 96px, my_net 32 x 64px, the paper
models 8 x 224px). `--anynetx` adds AnyNetX-style stages with group widths 1..32 at the
sweep's sizes. Dense kxk convs are left out: every lowering runs them as XLA's conv.

For each shape and each lowering that applies it prints forward and forward+backward
GFLOP/s (2 x MACs / s and 6 x MACs / s, true MACs, so a block-diagonal kernel's extra
flops count as waste) and the compile seconds of forward+backward; then the form the rule
(`zoo.nn.conv_lowering.choose`) picks, and its fwd+bwd time over the best lowering's.
Noise: medians of --repeats runs, lowerings timed round-robin; compare within one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import jax
import jax.numpy as jnp

import zoo
from zoo.nn import conv_lowering as cl

# form -> the forced lowering that produces it for grouped (and 1x1) convs
FORCING = {"xla": "xla", "pergroup": "fast", "blockdiag": "blockdiag", "taps": "taps", "matmul": "fast"}
MODEL_INPUTS = {"regnetx32": (128, 96), "my_net": (32, 64)}
PAPER_INPUT = (8, 224)
MAX_PERGROUP_GROUPS = 64  # per-group compile grows with groups: above this it takes minutes
MAX_BLOCKDIAG_GROUPS = 64  # g x flops: above this it is hopeless and slow to measure


def _convs(jaxpr, found):
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            lhs, rhs = (v.aval.shape for v in eqn.invars[:2])
            p = eqn.params
            found.add(
                (
                    tuple(lhs),
                    tuple(rhs),
                    tuple(p["window_strides"]),
                    tuple(map(tuple, p["padding"])),
                    p["feature_group_count"],
                )
            )
        for sub in _subjaxprs(eqn):
            _convs(sub, found)


def _subjaxprs(eqn):
    for value in eqn.params.values():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if hasattr(v, "jaxpr") and hasattr(v.jaxpr, "eqns"):
                yield v.jaxpr
            elif hasattr(v, "eqns"):
                yield v


def model_conv_shapes(name: str, batch: int, size: int) -> set:
    model = zoo.create(name)
    model.eval()
    x = jnp.zeros((batch, size, size, model.spec.in_channels))
    with cl.conv_lowering("xla"):
        closed = jax.make_jaxpr(lambda x: model(x))(x)
    found = set()
    _convs(closed.jaxpr, found)
    return found


def anynetx_shapes() -> set:
    """3x3 grouped convs of AnyNetX stages, group widths 1..32, at the sweep's 16px digits size (batch 64)."""
    shapes = set()
    for width, size in ((64, 8), (256, 4), (1024, 2)):
        for gw in (1, 2, 4, 8, 16, 32):
            if width % gw == 0:
                shapes.add(((64, size, size, width), (3, 3, gw, width), (1, 1), ((1, 1), (1, 1)), width // gw))
    return shapes


def candidates(rhs, groups, padding) -> list[str]:
    kh, kw = rhs[:2]
    if groups == 1:
        return ["xla", "matmul"] if (kh, kw) == (1, 1) and all(p == (0, 0) for p in padding) else []
    forms = ["xla", "taps"]
    if groups <= MAX_PERGROUP_GROUPS:
        forms.append("pergroup")
    if groups <= MAX_BLOCKDIAG_GROUPS:
        forms.append("blockdiag")
    return forms


def measure(shape, forms, repeats):
    lhs, rhs, strides, padding, groups = shape
    kx, kw, kc = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, lhs)
    w = jax.random.normal(kw, rhs)

    def conv(x, w):
        return cl.conv_general_dilated(
            x, w, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups
        )

    out = jax.eval_shape(conv, x, w)
    cot = jax.random.normal(kc, out.shape)
    runs, compile_s = {}, {}
    for form in forms:
        with cl.conv_lowering(FORCING[form]):
            fwd = jax.jit(conv).lower(x, w).compile()
            start = time.perf_counter()
            both = jax.jit(lambda x, w: jax.vjp(conv, x, w)[1](cot)).lower(x, w).compile()
            compile_s[form] = time.perf_counter() - start
        runs[form] = (fwd, both)
    times = {f: ([], []) for f in forms}
    for fwd, both in runs.values():  # warm-up
        jax.block_until_ready(fwd(x, w))
        jax.block_until_ready(both(x, w))
    for _ in range(repeats):
        for form, (fwd, both) in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(fwd(x, w))
            mid = time.perf_counter()
            jax.block_until_ready(both(x, w))
            times[form][0].append(mid - start)
            times[form][1].append(time.perf_counter() - mid)
    return {f: (statistics.median(t[0]), statistics.median(t[1]), compile_s[f]) for f, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="regnetx32,my_net,regnetx_002,regnetx_032")
    parser.add_argument("--anynetx", action="store_true", help="add AnyNetX stages with group widths 1..32")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}; GFLOP/s fwd / fwd+bwd, compile s (fwd+bwd)")
    sources: dict[tuple, list[str]] = {}
    for name in filter(None, args.models.split(",")):
        batch, size = MODEL_INPUTS.get(name, PAPER_INPUT)
        for shape in model_conv_shapes(name, batch, size):
            sources.setdefault(shape, []).append(name)
    if args.anynetx:
        for shape in anynetx_shapes():
            sources.setdefault(shape, []).append("anynetx")
    rows = []
    for shape in sorted(sources, key=lambda s: (s[4], s[0][3], s[0][1])):
        lhs, rhs, strides, padding, groups = shape
        forms = candidates(rhs, groups, padding)
        if not forms:
            continue
        macs = lhs[0] * (lhs[1] // strides[0]) * (lhs[2] // strides[1]) * rhs[0] * rhs[1] * rhs[2] * rhs[3]
        result = measure(shape, forms, args.repeats)
        conv_shape = cl.ConvShape(*lhs, rhs[3], tuple(rhs[:2]), tuple(strides), groups)
        padded = any(p != (0, 0) for p in padding)
        rule = cl.choose(conv_shape, padded=padded)  # on this backend
        best = min(result, key=lambda f: result[f][1])
        cells = "  ".join(
            f"{f} {2 * macs / r[0] / 1e9:.1f}/{6 * macs / r[1] / 1e9:.1f} c{r[2]:.1f}" for f, r in result.items()
        )
        label = f"N{lhs[0]} {lhs[1]}px {lhs[3]}->{rhs[3]} k{rhs[0]} s{strides[0]} g{groups}"
        print(f"{label:<34} [{','.join(sorted(set(sources[shape])))}] {cells}", flush=True)
        rows.append((label, rule, best, result[rule][1] / result[best][1], result[rule][2], result[best][2]))
    print()
    print(f"{'shape':<34} {'rule':>9} {'best':>9} {'rule/best time':>14} {'compile rule':>12} {'best':>6}")
    for label, rule, best, ratio, c_rule, c_best in rows:
        print(f"{label:<34} {rule:>9} {best:>9} {ratio:>14.2f} {c_rule:>12.1f} {c_best:>6.1f}")
    ratios = [r[3] for r in rows]
    within = sum(r <= 1.10 for r in ratios)
    print(f"rule within 10% of the best fwd+bwd time on {within}/{len(ratios)} shapes; worst {max(ratios):.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
