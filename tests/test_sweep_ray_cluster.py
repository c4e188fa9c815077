"""A sweep through `--address` on a real two-node Ray cluster on loopback, one node killed mid-way.

Each node is its own `ray start --block` process group, so the test stops exactly the nodes it
started (never `ray stop`, which would stop every Ray on the machine). Trials are tiny (no
training): what is tested is scheduling across nodes, the lost node, and resume.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from zoo.spec import ModelSpec, StageSpec
from zoo.sweep.runner import make_manifest, run_sweep
from zoo.sweep.table import read_rows

pytest.importorskip("ray")
RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
TINY = ModelSpec(stages=(StageSpec(1, 8, 8),), stem_width=8, num_classes=10, in_channels=1, input_size=8)
N = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen(
        [RAY, "start", "--block", "--num-cpus=1", "--disable-usage-stats", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )


def _stop(node: subprocess.Popen) -> None:
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    node.wait(timeout=30)


def _wait_started(log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while "Ray runtime started" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"a Ray node did not start: {log.read_text(errors='replace')[-2000:]}"
        time.sleep(0.5)


@pytest.fixture
def two_nodes(tmp_path, monkeypatch):
    # One auth mode for both nodes and the driver, whatever a token file elsewhere on the machine says.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    port = _free_port()
    head = _node(
        ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false"], tmp_path / "head.log"
    )
    address = f"127.0.0.1:{port}"
    second = None
    try:
        _wait_started(tmp_path / "head.log")
        second = _node([f"--address={address}", "--node-ip-address=127.0.0.1"], tmp_path / "second.log")
        _wait_started(tmp_path / "second.log")
        yield address, head, second
    finally:
        if second is not None:
            _stop(second)
        _stop(head)
        # `ray start` records the cluster for later ray.init() calls on this machine; a killed
        # cluster must not leave that record behind, or the next local Ray would try to join it.
        record = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if record.is_file() and record.read_text().strip().endswith(f":{port}"):
            record.unlink(missing_ok=True)


def _trials() -> list[dict]:
    return [
        {
            "trial": i,
            "space": "tiny",
            "sweep_seed": 0,
            "params": {},
            "spec": TINY.to_dict(),
            "complexity": {"flops": 1, "params": 1, "acts": 1},
        }
        for i in range(N)
    ]


def test_a_sweep_survives_a_lost_node_and_completes_on_a_rerun(two_nodes, tmp_path):
    address, _, second = two_nodes
    out = tmp_path / "sweep"
    marks = tmp_path / "marks"
    marks.mkdir()
    node_pgid = second.pid

    def tiny(trial: dict, recipe: dict) -> dict:
        import ray

        node = ray.get_runtime_context().get_node_id()
        (marks / f"trial{trial['trial']}-{node}").touch()
        time.sleep(1.0)
        if os.getsid(0) == node_pgid and not (marks / "killed").exists():
            (marks / "killed").touch()
            os.killpg(node_pgid, signal.SIGKILL)  # the whole second node, raylet and this worker included
        return {**trial, "error": 0.5 + trial["trial"] / 100, "seconds": 1.0, "pid": os.getpid(), "node": node}

    manifest = make_manifest("tiny", N, 0, (), TINY, {"epochs": 1}, workers=2, address=address)
    start = time.perf_counter()
    first = run_sweep(out, manifest, _trials(), trial_fn=tiny, max_retries=1, log=lambda _: None)
    assert (marks / "killed").exists()
    nodes = {p.name.split("-", 1)[1] for p in marks.iterdir() if p.name.startswith("trial")}
    assert len(nodes) == 2  # trials ran on both nodes before one was lost
    again = run_sweep(out, manifest, _trials(), trial_fn=tiny, max_retries=1, log=lambda _: None)
    rows = read_rows(out)
    assert sorted(r["trial"] for r in rows) == list(range(N))  # all done, each once
    assert sorted(first.finished + again.finished) == list(range(N)) and not again.failed
    assert time.perf_counter() - start < 60
