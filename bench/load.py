"""Pretrained load time and memory: `zoo.load(name, pretrained=True)` from a warm cache to first logits.

    python bench/load.py [--names regnetx_032 regnety_320] [--repeats 2]

For each model, weights are made locally (a random model written in timm's layout, as the
`pycls_in1k` tags publish them), served by the loopback Hub of tests/hubserver.py, fetched
and converted once (the cold load), then loaded in fresh processes with HF_HUB_OFFLINE=1
(the warm load: no request, the converted file read from the cache). Each load runs in its
own process so peak RSS is that load's alone. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import jax, jax.numpy as jnp
import zoo
t_import = time.perf_counter() - t0
start = time.perf_counter()
model = zoo.load(sys.argv[1], pretrained=True)
model.eval()
logits = model(jnp.zeros((1, 224, 224, 3), jnp.float32))
logits.block_until_ready()
total = time.perf_counter() - start
print(json.dumps({"import_s": t_import, "load_to_logits_s": total,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def zoo_to_timm(arrays: dict) -> dict:
    """Our flat keys -> timm's RegNet names and PyTorch layouts (the inverse of zoo.weights.layouts.timm)."""
    import re

    import numpy as np

    out = {}
    bn = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
    for key, value in arrays.items():
        if key.startswith("head.fc."):
            out[key.replace("kernel", "weight")] = value.T if key.endswith("kernel") else value
            continue
        m = re.match(r"stages\.(\d+)\.blocks\.(\d+)\.(.*)", key)
        prefix, rest = (f"s{int(m[1]) + 1}.b{int(m[2]) + 1}.", m[3]) if m else ("", key)
        module, _, leaf = rest.rpartition(".")
        module = {
            "conv1": "conv1.conv",
            "conv2": "conv2.conv",
            "conv3": "conv3.conv",
            "bn1": "conv1.bn",
            "bn2": "conv2.bn",
            "bn3": "conv3.bn",
            "proj_conv": "downsample.conv",
            "proj_bn": "downsample.bn",
            "attention.reduce": "se.fc1",
            "attention.expand": "se.fc2",
        }.get(module, module)
        if leaf == "kernel":
            out[f"{prefix}{module}.weight"] = np.ascontiguousarray(np.transpose(value, (3, 2, 0, 1)))
        elif module.endswith("bn"):
            out[f"{prefix}{module}.{bn[leaf]}"] = value
        else:
            out[f"{prefix}{module}.{leaf}"] = value
    return out


def run_child(name: str, env: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, name], env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"load of {name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="+", default=["regnetx_032", "regnety_320"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from hubserver import HubServer
    from safetensors.numpy import save_file

    import zoo
    from zoo.weights.state_file import state_arrays

    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp, HubServer() as hub:
        env = {
            **os.environ,
            "HF_ENDPOINT": hub.url,
            "HF_HUB_CACHE": f"{tmp}/hf",
            "ZOO_CACHE": f"{tmp}/zoo",
            "HF_HUB_OFFLINE": "0",
            "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
        }
        print(f"{'model':<12} {'params(M)':>9} {'file(MiB)':>9} {'cold(s)':>8} {'warm(s)':>8} {'peak RSS(MiB)':>13}")
        for name in args.names:
            tag = zoo.api.resolve_tag(name)
            arrays = state_arrays(zoo.create(name))
            params = sum(v.size for k, v in arrays.items() if not k.endswith((".mean", ".var")))
            source = Path(tmp) / f"{name}.safetensors"
            save_file(zoo_to_timm(arrays), str(source))
            del arrays
            hub.state.put_file(tag.repo_id, tag.filename, source.read_bytes())
            size_mib = source.stat().st_size / 2**20
            cold = run_child(name, env)
            warm = [run_child(name, {**env, "HF_HUB_OFFLINE": "1"}) for _ in range(args.repeats)]
            best = min(warm, key=lambda r: r["load_to_logits_s"])
            print(
                f"{name:<12} {params / 1e6:>9.1f} {size_mib:>9.1f} {cold['load_to_logits_s']:>8.2f} "
                f"{best['load_to_logits_s']:>8.2f} {max(r['peak_rss_mib'] for r in warm):>13.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
