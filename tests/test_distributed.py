"""Devices and hosts: 4 simulated CPU devices match 1, and two processes train together on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

import zoo
from zoo.errors import DeviceError
from zoo.train import TrainConfig, fit
from zoo.train.sharding import check_batch_size, data_mesh, distributed_settings

TINY = zoo.ModelSpec(
    stages=(zoo.StageSpec(1, 8, 4, 1.0, 2),), stem_width=8, in_channels=1, num_classes=10, input_size=8
)
SETTINGS = dict(
    dataset="digits",
    train_split="train[:128]",
    test_split="test[:64]",
    epochs=1,
    batch_size=32,
    image_size=8,
    lr=0.1,
    warmup_epochs=0.5,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    from zoo.data import open_split

    open_split("digits", "train", data_dir=path)
    return str(path)


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COORDINATOR", "JAX_NUM_PROC", "JAX_PROCESS"))}
    env.update(JAX_PLATFORMS="cpu", **extra)
    return env


def _leaves(model) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model))]


FOUR_DEVICES = textwrap.dedent("""
    import sys, jax, numpy as np
    from flax import nnx
    import zoo
    from zoo.errors import DeviceError
    from zoo.train import TrainConfig, fit
    spec = zoo.ModelSpec.from_json(sys.argv[1])
    config = TrainConfig.from_dict(eval(sys.argv[2]))
    assert jax.device_count() == 4, jax.devices()
    try:
        fit(spec, config.replace(batch_size=30), progress=False)
    except DeviceError as err:
        print("DEVICE-ERROR:", err)
    result = fit(spec, config, progress=False)
    np.savez(sys.argv[3], *[np.asarray(x) for x in jax.tree.leaves(nnx.state(result.model))])
""")


def test_four_simulated_devices_match_one(data_dir, tmp_path):
    config = TrainConfig(**SETTINGS, data_dir=data_dir)
    script = tmp_path / "four.py"
    script.write_text(FOUR_DEVICES)
    out = tmp_path / "four.npz"
    proc = subprocess.run(
        [sys.executable, str(script), TINY.to_json(), repr(config.to_dict()), str(out)],
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DEVICE-ERROR: batch_size=30 is not a multiple of the 4 devices" in proc.stdout
    assert "use 28 or 32" in proc.stdout
    one = fit(TINY, config, progress=False)
    four = np.load(out)
    four = [four[f"arr_{i}"] for i in range(len(four.files))]
    for a, b in zip(_leaves(one.model), four, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_batch_not_divisible_by_devices_is_a_typed_error():
    mesh = data_mesh()
    check_batch_size(32, mesh)  # one device divides everything
    fake = type("Mesh", (), {"size": 4})()
    with pytest.raises(DeviceError, match="not a multiple of the 4 devices it is split over; use 8 or 12"):
        check_batch_size(10, fake)


def test_distributed_settings_come_from_flags_or_environment(monkeypatch):
    monkeypatch.delenv("JAX_COORDINATOR_ADDRESS", raising=False)
    monkeypatch.delenv("JAX_NUM_PROCESSES", raising=False)
    monkeypatch.delenv("JAX_PROCESS_ID", raising=False)
    assert distributed_settings() is None
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert distributed_settings() == ("10.0.0.1:1234", 4, 3)
    assert distributed_settings(process_id=1) == ("10.0.0.1:1234", 4, 1)
    monkeypatch.delenv("JAX_PROCESS_ID")
    with pytest.raises(DeviceError, match="needs all three"):
        distributed_settings()
    with pytest.raises(DeviceError, match="must lie in"):
        distributed_settings(process_id=7)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_together_on_loopback(data_dir, tmp_path):
    from zoo.weights.pretrained import save_pretrained

    save_pretrained(zoo.create(TINY), tmp_path / "tiny")
    port = _free_port()
    out = tmp_path / "run"
    args = [
        "train",
        str(tmp_path / "tiny"),
        "--dataset",
        "digits",
        "--train-split",
        SETTINGS["train_split"],
        "--test-split",
        SETTINGS["test_split"],
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--image-size",
        "8",
        "--lr",
        "0.1",
        "--warmup-epochs",
        "0.5",
        "--data-dir",
        data_dir,
        "--out",
        str(out),
        "--quiet",
        "--coordinator",
        f"127.0.0.1:{port}",
        "--num-processes",
        "2",
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "zoo", *args, "--process-id", str(i)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    try:
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_stdout, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr[-3000:]
    assert "on 2 device(s)" in outputs[0][0]  # process 0 reports; both processes' devices took part
    assert "test: top-1" not in outputs[1][0]  # only process 0 reports and writes
    together = zoo.load(f"local-dir:{out}")
    alone = fit(f"local-dir:{tmp_path / 'tiny'}", TrainConfig(**SETTINGS, data_dir=data_dir), progress=False)
    for a, b in zip(_leaves(alone.model), _leaves(together), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert (Path(out) / "checkpoints" / "4").is_dir()
