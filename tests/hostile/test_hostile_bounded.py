"""Bounded inputs: a FIFO, a device or a decompression bomb given where a file belongs is refused at
once, naming it, instead of hanging or eating the memory (issue 19, item 2)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.errors import DatasetError, RegistryError, WeightsFormatError

TINY = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, in_channels=1, num_classes=3, input_size=8)


def fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def bomb_png(path: Path, side: int = 60_000) -> Path:
    """A PNG whose header claims side x side grey pixels over a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def run_bounded(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `code` in a child that must end by itself (a hang fails the test instead of stalling it)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )


def test_a_fifo_given_as_an_image_is_refused(tmp_path):
    path = fifo(tmp_path, "image.png")
    with pytest.raises(DatasetError, match=r"image .*image.png is a FIFO"):
        zoo.predict(zoo.create(TINY), str(path))


def test_a_fifo_given_as_a_checkpoint_is_refused(tmp_path):
    path = fifo(tmp_path, "model.safetensors")
    with pytest.raises(WeightsFormatError, match=r"weights file .* is a FIFO"):
        zoo.load(TINY, checkpoint_path=path)


def test_a_fifo_config_json_is_refused(tmp_path):
    folder = tmp_path / "saved"
    zoo.save_pretrained(zoo.create(TINY), folder)
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")
    with pytest.raises(WeightsFormatError, match=r"model config .*config.json is a FIFO"):
        zoo.load(f"local-dir:{folder}")


def test_a_plugin_models_toml_at_dev_zero_is_a_reported_plugin_failure(tmp_path):
    (tmp_path / "zero_plugin.py").write_text(
        "from zoo import plugin_kit as kit\n\n@kit.hookimpl\ndef zoo_add_models():\n    return '/dev/zero'\n"
    )
    done = run_bounded(f"""
        import os, sys, warnings
        sys.path.insert(0, {str(tmp_path)!r})
        os.environ["ZOO_PLUGINS"] = "zero_plugin"
        warnings.simplefilter("ignore")
        import zoo
        print(len(zoo.list_models()) > 0)
        print([f.error for f in zoo.plugins.manager().failures])
    """)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "True"
    assert "/dev/zero" in done.stdout + done.stderr and "not a regular file" in done.stdout + done.stderr


def test_the_registry_reader_refuses_a_device(tmp_path):
    from zoo.registry_schema import read_registry_file

    with pytest.raises(RegistryError, match="registry file /dev/zero is not a regular file"):
        read_registry_file(Path("/dev/zero"))


def test_a_decompression_bomb_is_refused_by_predict_naming_the_file(tmp_path):
    path = bomb_png(tmp_path / "bomb.png")
    with pytest.raises(DatasetError, match=r"bomb.png .*decompression bomb.*not decoded"):
        zoo.predict(zoo.create(TINY), str(path))


def test_a_decompression_bomb_in_an_image_folder_is_refused_naming_the_file(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "data" / name / "ok.png")
    bomb_png(tmp_path / "data" / "b" / "bomb.png")
    from zoo.data import open_split

    with pytest.raises(DatasetError, match=r"bomb.png .*decompression bomb.*not decoded"):
        open_split(f"folder:{tmp_path / 'data'}", "train", data_dir=str(tmp_path / "tfds"))


def test_a_hub_body_trickling_at_1kb_per_s_ends_at_the_deadline(hub, monkeypatch):
    import time

    from zoo.errors import HubTimeoutError

    zoo.push_to_hub(zoo.create(TINY), "org/slow", commit_message="w")
    monkeypatch.setenv("ZOO_HUB_DEADLINE", "3")
    hub.state.inject("trickle", "/model.safetensors", method="GET", times=None, seconds=20)
    start = time.perf_counter()
    with pytest.raises(HubTimeoutError, match=r"did not arrive within 3 s.*ZOO_HUB_DEADLINE"):
        zoo.load("hf-hub:org/slow")
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf"])
def test_a_bad_hub_deadline_is_named(value, monkeypatch):
    from zoo.errors import HubError
    from zoo.hub.client import download_deadline

    monkeypatch.setenv("ZOO_HUB_DEADLINE", value)
    with pytest.raises(HubError, match="ZOO_HUB_DEADLINE"):
        download_deadline(1000)


def test_the_default_deadline_grows_with_the_file():
    from zoo.hub.client import download_deadline

    assert 120 < download_deadline(1000) < download_deadline(100 << 20)
