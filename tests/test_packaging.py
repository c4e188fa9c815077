"""The distribution: a wheel (not only an editable install) carries registry.toml."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_registry(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("anynet_zoo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("zoo/registry.toml") == (ROOT / "registry.toml").read_bytes()
        names = archive.namelist()
        assert "zoo/nn/builtin.py" in names and "zoo/design/regnet.py" in names
        for shipped in ("model.safetensors", "config.json"):  # regnetx32.digits: pretrained=True offline
            path = f"zoo/shipped/regnetx32-digits/{shipped}"
            assert archive.read(path) == (ROOT / "zoo" / "shipped" / "regnetx32-digits" / shipped).read_bytes()
        assert len(archive.read("zoo/labels/imagenet1k.txt").decode().splitlines()) == 1000
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "zoo = zoo.cli:main" in archive.read(entry_points).decode()
