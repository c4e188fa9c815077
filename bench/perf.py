"""CPU performance of the zoo against its baselines, measured side by side in one run.

    python bench/perf.py [--repeats 5] [--skip-train] [--skip-timm]

1. RegNetX32 train step (batch 128, 96x96x1; forward, cross-entropy, backward, SGD-Nesterov):
   the faithful linen transcription of the seed (bench/seed_baseline.py, XLA's grouped conv)
   vs the zoo (per-shape lowering) vs the zoo with ZOO_CONV_LOWERING=xla vs PyTorch eager on
   the same architecture (transformers' RegNet with the seed's widths), when torch is there.
2. RegNetX-200MF train step (batch 32, 224x224x3): the zoo vs timm's regnetx_002 in PyTorch.
3. RegNetX-3.2GF forward (batch 8, 224x224x3, eval): the zoo vs timm in PyTorch eager NCHW,
   eager channels_last and torch.compile (the best of the three is the anchor) vs the zoo
   with the xla lowering.
4. The machine's ceiling in this JAX: a large matmul and a large dense convolution.
5. Train-step compile time of regnetx_032 and regnety_320.

timm imports torchvision at import time (for a frozen-BN class and transform enums), and
PyPI's torchvision does not load beside the CPU torch wheel used here; rather than a
multi-GB download, this script installs an import-time stand-in for `torchvision` (a module
whose attributes are empty classes) before importing timm. timm's RegNet forward never
touches it.

Variants are timed in interleaved rounds (A, B, C, A, B, C, ...) so that noise on a shared
machine hits all of them alike; medians over rounds, spread as min..max.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import statistics
import sys
import time
import types
from pathlib import Path

import jax
import optax
from flax import nnx

sys.path.insert(0, str(Path(__file__).parent))
from seed_baseline import BookRegNetX32  # noqa: E402

import zoo  # noqa: E402
from zoo.nn import conv_tuning  # noqa: E402
from zoo.nn.conv_lowering import conv_lowering  # noqa: E402


# -- timers ------------------------------------------------------------------------------
def interleaved(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each fn, timed round-robin after one warm-up call each."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median(ts):
    return statistics.median(ts)


# -- train steps -------------------------------------------------------------------------
def batch(n, size, channels, classes=10, seed=0):
    kx, ky = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kx, (n, size, size, channels)), jax.random.randint(ky, (n,), 0, classes)


def book_train_step(x, y):
    model = BookRegNetX32(training=True)
    variables = model.init(jax.random.key(0), x[:1])
    tx = optax.sgd(0.05, momentum=0.9, nesterov=True)
    state = [variables["params"], variables["batch_stats"], tx.init(variables["params"])]

    @jax.jit
    def step(params, stats, opt, x, y):
        def loss_fn(params):
            logits, updates = model.apply({"params": params, "batch_stats": stats}, x, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updates["batch_stats"]

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), stats, opt, loss

    def run():
        *state[:3], loss = step(*state, x, y)
        loss.block_until_ready()

    return run


def _zoo_step(name, x, y):
    model = zoo.create(name)
    model.train()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.sgd(0.05, momentum=0.9, nesterov=True)
    state = [params, rest, tx.init(params)]

    def step(params, rest, opt, x, y):
        net = nnx.merge(graphdef, params, rest)

        def loss_fn(net):
            return optax.softmax_cross_entropy_with_integer_labels(net(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(net)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), nnx.state(net, nnx.Not(nnx.Param)), opt, loss

    return step, state


def zoo_train_step_compile_seconds(name, x, y, lowering):
    """Seconds to trace and lower, and to compile, the zoo's train step (bench/compile.py runs it in fresh processes)."""
    step, state = _zoo_step(name, x, y)
    start = time.perf_counter()
    with conv_lowering(lowering):
        lowered = jax.jit(step).lower(*state, x, y)
        mid = time.perf_counter()
        lowered.compile()
    return mid - start, time.perf_counter() - mid


def zoo_train_step(name, x, y, lowering):
    step, state = _zoo_step(name, x, y)
    with conv_lowering(lowering):
        jitted = jax.jit(step).lower(*state, x, y).compile()

    def run():
        *state[:3], loss = jitted(*state, x, y)
        loss.block_until_ready()

    return run


def zoo_forward(name, x, lowering):
    """The product's inference path: zoo.compile_forward (eval mode, CPU-tuned XLA options)."""
    with conv_lowering(lowering):
        forward = zoo.compile_forward(zoo.create(name), x)
    return lambda: forward(x).block_until_ready()


# -- timm --------------------------------------------------------------------------------
class _AnyAttr(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return f"{cls.__name__}.{name}"


class _StandIn(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _AnyAttr(name, (), {"__init__": lambda self, *a, **k: None})


class _TorchvisionStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StandIn(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def import_timm():
    try:
        import torchvision  # noqa: F401
    except Exception:
        sys.modules.pop("torchvision", None)
        sys.meta_path.insert(0, _TorchvisionStandIn())
    try:
        import timm
    except Exception as err:
        print(f"timm unavailable: {err}")
        return None
    return timm


def timm_forwards(name, n, size, compiled=True):
    """regnetx_032's eval forward in timm: eager NCHW, eager channels_last and torch.compile."""
    try:
        import torch
    except ImportError:
        return {}
    timm = import_timm()
    if timm is None:
        return {}
    model = timm.create_model(name, pretrained=False).eval()
    x = torch.randn(n, 3, size, size)
    last = timm.create_model(name, pretrained=False).eval().to(memory_format=torch.channels_last)
    x_last = x.contiguous(memory_format=torch.channels_last)

    def runner(m, x):
        def run():
            with torch.no_grad():
                m(x)

        return run

    runs = {"torch eager": runner(model, x), "torch channels_last": runner(last, x_last)}
    if compiled:
        try:
            fn = torch.compile(model)
            start = time.perf_counter()
            with torch.no_grad():
                fn(x)
            print(f"  torch.compile of {name} forward: {time.perf_counter() - start:.1f} s")
            runs["torch.compile"] = runner(fn, x)
        except Exception as err:  # no C++ toolchain for inductor, etc.
            print(f"torch.compile unavailable: {type(err).__name__}: {str(err)[:200]}")
    return runs


def torch_train_step(model, n, size, channels, classes):
    """PyTorch's train step: forward, cross-entropy, backward, SGD-Nesterov update (eager, NCHW)."""
    import torch

    model.train()
    x = torch.randn(n, channels, size, size)
    y = torch.randint(0, classes, (n,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        opt.zero_grad(set_to_none=True)
        out = model(x)
        logits = out.logits if hasattr(out, "logits") else out
        loss_fn(logits, y).backward()
        opt.step()

    return run


def torch_regnetx32_train(n, size):
    """The seed's RegNetX32 in PyTorch: transformers' RegNet with the seed's widths."""
    try:
        from transformers import RegNetConfig, RegNetForImageClassification
    except ImportError:
        return None
    config = RegNetConfig(
        num_channels=1,
        embedding_size=32,
        hidden_sizes=[32, 80],
        depths=[4, 6],
        groups_width=16,
        layer_type="x",
        num_labels=10,
    )
    return torch_train_step(RegNetForImageClassification(config), n, size, 1, 10)


def timm_train(name, n, size):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    timm = import_timm()
    return None if timm is None else torch_train_step(timm.create_model(name, pretrained=False), n, size, 3, 1000)


# -- ceiling -----------------------------------------------------------------------------
def ceiling(repeats):
    a = jax.random.normal(jax.random.key(0), (2048, 2048))
    mm = jax.jit(lambda a: a @ a)
    x = jax.random.normal(jax.random.key(1), (8, 56, 56, 256))
    w = jax.random.normal(jax.random.key(2), (3, 3, 256, 256))
    cv = jax.jit(
        lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    )
    t = interleaved(
        {"matmul": lambda: mm(a).block_until_ready(), "conv": lambda: cv(x, w).block_until_ready()}, repeats
    )
    return {
        "matmul": 2 * 2048**3 / median(t["matmul"]) / 1e9,
        "conv": 2 * 8 * 56 * 56 * 9 * 256 * 256 / median(t["conv"]) / 1e9,
    }


def compile_seconds(name, n, lowering="auto"):
    x, y = batch(n, 224, 3, 1000)
    model = zoo.create(name)
    model.train()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.sgd(0.1, momentum=0.9)

    def step(params, rest, opt, x, y):
        net = nnx.merge(graphdef, params, rest)

        def loss_fn(net):
            return optax.softmax_cross_entropy_with_integer_labels(net(x), y).mean()

        grads = nnx.grad(loss_fn)(net)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt

    start = time.perf_counter()
    with conv_lowering(lowering):
        jax.jit(step).lower(params, rest, tx.init(params), x, y).compile()
    return time.perf_counter() - start


def spread(ts, n):
    rates = [n / t for t in ts]
    return f"{min(rates):.1f}..{max(rates):.1f}"


def machine_line() -> str:
    """The CPU (model, vector extensions), the versions and the load, for the table's reader."""
    import os
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
            elif line.startswith("flags"):
                flags = set(line.partition(":")[2].split())
                break
    except OSError:
        pass
    vector = ",".join(f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in flags)
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "absent"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"cpu: {model} ({os.cpu_count()} cores; {vector or 'no AVX2'}); jax {jax.__version__}, torch {torch_version}; "
        f"load {load}; conv tuning {conv_tuning.mode()}"
    )


def main():
    parser = argparse.ArgumentParser(description="anynet-zoo CPU performance, side by side")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-torch", "--skip-timm", action="store_true", help="leave PyTorch out")
    parser.add_argument("--skip-torch-compile", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="leave out the seed and xla-lowering variants (slow: minutes a step)",
    )
    args = parser.parse_args()
    print(machine_line())
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}, {jax.device_count()} device(s)")
    rows = []  # (case, baseline, ours, xla, gflops, of ceiling, torch anchor, anchor name)
    ceil = ceiling(args.repeats)
    print(f"ceiling: matmul 2048^3 {ceil['matmul']:.1f} GFLOP/s, dense 3x3 conv {ceil['conv']:.1f} GFLOP/s")
    peak = max(ceil.values())

    def report(label, t, n):
        for name in t:
            print(f"  {label} [{name}]: {median(t[name]):.3f} s, img/s {spread(t[name], n)}")

    if not args.skip_train:
        n = 128
        x, y = batch(n, 96, 1)
        fwd_macs = zoo.complexity("regnetx32", 96)["flops"]
        fns = {"zoo": zoo_train_step("regnetx32", x, y, "auto")}
        if not args.no_baselines:
            fns.update(seed=book_train_step(x, y), xla=zoo_train_step("regnetx32", x, y, "xla"))
        torch_run = None if args.skip_torch else torch_regnetx32_train(n, 96)
        if torch_run is not None:
            fns["torch eager"] = torch_run
        tuned = conv_tuning.report()
        if tuned:
            print(f"  {conv_tuning.summary(tuned)}")
        t = interleaved(fns, args.repeats)
        report("regnetx32 train step", t, n)
        gflops = 3 * 2 * fwd_macs * n / median(t["zoo"]) / 1e9
        rate = {k: n / median(v) for k, v in t.items()}
        rows.append(
            ("regnetx32 train b128 96x96x1", rate.get("seed"), rate["zoo"], rate.get("xla"), gflops, gflops / peak)
            + ((rate["torch eager"], "torch eager") if "torch eager" in rate else (None, ""))
        )

        n = 32
        x, y = batch(n, 224, 3, 1000)
        fwd_macs = zoo.complexity("regnetx_002", 224)["flops"]
        fns = {"zoo": zoo_train_step("regnetx_002", x, y, "auto")}
        if not args.no_baselines:
            fns["xla"] = zoo_train_step("regnetx_002", x, y, "xla")
        torch_run = None if args.skip_torch else timm_train("regnetx_002", n, 224)
        if torch_run is not None:
            fns["timm eager"] = torch_run
        t = interleaved(fns, args.repeats)
        report("regnetx_002 train step", t, n)
        gflops = 3 * 2 * fwd_macs * n / median(t["zoo"]) / 1e9
        rate = {k: n / median(v) for k, v in t.items()}
        rows.append(
            ("regnetx_002 train b32 224x224x3", rate.get("xla"), rate["zoo"], rate.get("xla"), gflops, gflops / peak)
            + ((rate["timm eager"], "timm eager") if "timm eager" in rate else (None, ""))
        )

    n = 8
    x, _ = batch(n, 224, 3)
    fwd_macs = zoo.complexity("regnetx_032", 224)["flops"]
    fns = {"zoo": zoo_forward("regnetx_032", x, "auto")}
    if not args.no_baselines:
        fns["xla"] = zoo_forward("regnetx_032", x, "xla")
    if not args.skip_torch:
        fns.update(timm_forwards("regnetx_032", n, 224, compiled=not args.skip_torch_compile))
    t = interleaved(fns, args.repeats)
    report("regnetx_032 forward", t, n)
    gflops = 2 * fwd_macs * n / median(t["zoo"]) / 1e9
    rate = {k: n / median(v) for k, v in t.items()}
    torch_rates = {k: v for k, v in rate.items() if k.startswith("torch")}
    best = max(torch_rates, key=torch_rates.get) if torch_rates else None
    rows.append(
        ("regnetx_032 fwd b8 224x224x3", rate.get("xla"), rate["zoo"], rate.get("xla"), gflops, gflops / peak)
        + ((torch_rates[best], best) if best else (None, ""))
    )

    if not args.skip_compile:
        for name in ("regnetx_032", "regnety_320"):
            print(f"  train-step compile, {name} (batch 2, 224): {compile_seconds(name, 2, 'auto'):.1f} s")

    print()
    print("img/s; baseline = seed transcription (regnetx32) or the zoo on XLA's own convs (the others);")
    print("anchor = PyTorch 2 CPU on the same architecture (forward: the best of eager, channels_last, compile)")
    head = (
        f"{'case':<32} {'baseline':>9} {'zoo':>7} {'zoo/base':>8} {'zoo/xla':>7} {'GFLOP/s':>8} "
        f"{'of ceil':>7} {'anchor':>7} {'zoo/anchor':>10}  anchor is"
    )
    print(head)
    for case, base, ours, xla, gf, frac, anchor, anchor_name in rows:
        anchor_cols = f"{anchor:>7.1f} {ours / anchor:>10.2f}  {anchor_name}" if anchor else f"{'-':>7} {'-':>10}"
        base_cols = f"{base:>9.1f}" if base else f"{'-':>9}"
        ratio_cols = f"{ours / base:>8.2f} {ours / xla:>7.2f}" if base else f"{'-':>8} {'-':>7}"
        print(f"{case:<32} {base_cols} {ours:>7.1f} {ratio_cols} {gf:>8.1f} {frac:>7.0%} {anchor_cols}")


if __name__ == "__main__":
    main()
