"""The Hub cache heals, and every network or server failure is one typed line (faults played by the loopback Hub)."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.errors import (
    ChecksumMismatchError,
    HubConnectionError,
    HubError,
    HubReferenceError,
    HubServerError,
    HubTimeoutError,
    WeightsFormatError,
)
from zoo.hub.client import fetch_file
from zoo.weights.state_file import state_arrays

SPEC = zoo.ModelSpec(
    stages=(zoo.StageSpec(depth=1, width=8, group_width=4),), stem_width=8, num_classes=3, in_channels=1, input_size=32
)
WEIGHTS = "/model.safetensors"  # every resolve route of the weights, whatever the revision


def pushed(seed: int = 0) -> dict[str, np.ndarray]:
    model = zoo.create(SPEC, seed=seed)
    zoo.push_to_hub(model, "org/tiny", commit_message="w")
    return state_arrays(model)


def same(model, arrays) -> bool:
    loaded = state_arrays(model)
    return loaded.keys() == arrays.keys() and all(np.array_equal(loaded[k], arrays[k]) for k in arrays)


def cached_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and ".locks" not in p.parts]


def test_a_corrupted_body_served_once_is_healed_by_one_more_fetch(hub):
    original = pushed(seed=1)
    hub.state.inject("corrupt", WEIGHTS, method="GET")
    assert same(zoo.load("hf-hub:org/tiny"), original)
    gets = [r for r in hub.requests if r[0] == "GET" and r[1].endswith(WEIGHTS)]
    assert len(gets) == 2  # the corrupt copy was dropped and fetched once more


def test_a_corrupt_cache_heals_on_the_next_load(hub, tmp_path):
    original = pushed(seed=2)
    path = fetch_file("org/tiny", "model.safetensors")
    blob = path.resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot in the cache, same size
    blob.write_bytes(bytes(data))
    assert same(zoo.load("hf-hub:org/tiny"), original)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == blob.name


def test_a_corrupted_body_every_time_is_a_checksum_error_and_nothing_bad_is_cached(hub, tmp_path):
    pushed()
    hub.state.inject("corrupt", WEIGHTS, method="GET", times=None)
    with pytest.raises(ChecksumMismatchError, match=r"does not match the Hub's \(ETag\).*fetched twice"):
        zoo.load("hf-hub:org/tiny")
    assert not [p for p in cached_files(tmp_path / "hf-cache") if p.suffix != ".json" and p.stat().st_size > 1000]


def test_zoo_download_verifies_what_it_returns(hub, capsys):
    pushed()
    hub.state.inject("corrupt", WEIGHTS, method="GET")
    assert main(["download", "hf-hub:org/tiny"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == path.resolve().name


def test_a_connection_dropped_mid_body_once_still_loads(hub):
    original = pushed(seed=3)
    hub.state.inject("drop", WEIGHTS, method="GET")
    assert same(zoo.load("hf-hub:org/tiny"), original)


def test_a_connection_dropped_every_time_is_one_typed_line(hub, tmp_path):
    pushed()
    hub.state.inject("drop", WEIGHTS, method="GET", times=None)
    with pytest.raises(HubConnectionError) as info:
        zoo.load("hf-hub:org/tiny")
    assert "\n" not in str(info.value) and "broke" in str(info.value)
    assert not [p for p in cached_files(tmp_path / "hf-cache") if p.stat().st_size > 1000]


def test_a_server_error_fails_fast_with_its_status(hub):
    pushed()
    hub.state.inject("500", WEIGHTS, times=None)
    start = time.perf_counter()
    with pytest.raises(HubServerError, match="HTTP 500") as info:
        zoo.load("hf-hub:org/tiny")
    assert time.perf_counter() - start < 5  # not huggingface_hub's ~23 s of backoff
    assert "\n" not in str(info.value)


def test_a_stalled_server_is_a_timeout(hub, monkeypatch):
    from huggingface_hub import constants

    pushed()
    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", 1)
    hub.state.inject("stall", WEIGHTS, method="HEAD", times=None, seconds=3)
    start = time.perf_counter()
    with pytest.raises(HubTimeoutError, match="stopped answering"):
        zoo.load("hf-hub:org/tiny")
    assert time.perf_counter() - start < 5


def test_a_server_down_still_serves_what_the_cache_holds(hub):
    original = pushed(seed=4)
    zoo.load("hf-hub:org/tiny")
    hub.state.inject("500", "", times=None)
    assert same(zoo.load("hf-hub:org/tiny"), original)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_on_push_and_fetch(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(HubConnectionError, match="cannot connect") as info:
        zoo.push_to_hub(zoo.create(SPEC), "org/tiny", commit_message="w")
    assert "\n" not in str(info.value)
    with pytest.raises(HubConnectionError, match="cannot connect"):
        fetch_file("org/tiny", "model.safetensors")


@pytest.mark.parametrize("name", ["hf-hub:a/b/c", "hf-hub:org/..", "hf-hub:../x", "hf-hub:org/good@", "hf-hub:org/a b"])
def test_invalid_repo_ids_are_refused_before_any_request(hub, name):
    with pytest.raises(HubError) as info:
        zoo.load(name)
    assert hub.requests == [] and "\n" not in str(info.value)


def test_an_empty_hub_name_is_refused_before_any_request(hub):
    with pytest.raises(zoo.errors.ZooError, match="hf-hub:"):
        zoo.load("hf-hub:")
    assert hub.requests == []


@pytest.mark.parametrize("revision", ["../../../../x", "/etc", "a\x00b", "main/../../x", "x\ny"])
def test_traversal_revisions_are_refused_and_nothing_is_written_outside_the_cache(hub, tmp_path, revision):
    pushed()
    before = set(tmp_path.rglob("*"))
    with pytest.raises(HubReferenceError, match="not a valid branch"):
        zoo.load(f"hf-hub:org/tiny@{revision}")
    with pytest.raises(HubReferenceError):
        zoo.download(f"hf-hub:org/tiny@{revision}")
    created = set(tmp_path.rglob("*")) - before
    assert created == set() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("filename", ["../../x.safetensors", "/abs/model.safetensors", "a/../../b", "a\\b"])
def test_tag_filenames_outside_the_repo_are_refused(hub, filename):
    with pytest.raises(HubReferenceError, match="not a file path inside a Hub repo"):
        fetch_file("org/tiny", filename)
    assert hub.requests == []


def test_a_hostile_config_on_the_hub_is_refused_before_building(hub):
    pushed()
    repo = hub.state.repos["org/tiny"]
    data = json.loads(repo.commits[repo.branches["main"]]["config.json"])
    data["spec"]["stages"][0]["depth"] = 100_000
    hub.state.put_file("org/tiny", "config.json", json.dumps(data).encode())
    start = time.perf_counter()
    with pytest.raises(WeightsFormatError, match="exceeds the limit"):
        zoo.load("hf-hub:org/tiny")
    assert time.perf_counter() - start < 5


def test_a_server_error_on_push_is_one_typed_line(hub):
    hub.state.inject("500", "/commit/", method="POST", times=None)
    start = time.perf_counter()
    with pytest.raises(HubServerError, match="HTTP 500") as info:
        zoo.push_to_hub(zoo.create(SPEC), "org/tiny", commit_message="w")
    assert "\n" not in str(info.value) and time.perf_counter() - start < 5


def test_a_corrupted_config_json_served_once_is_fetched_again(hub):
    original = pushed(seed=5)
    hub.state.inject("corrupt", "/config.json", method="GET")
    assert same(zoo.load("hf-hub:org/tiny"), original)
    assert len([r for r in hub.requests if r[0] == "GET" and r[1].endswith("/config.json")]) == 2


def test_an_unwritable_cache_is_named_not_blamed_on_the_network(hub, tmp_path, monkeypatch):
    pushed()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache should be")
    monkeypatch.setenv("HF_HUB_CACHE", str(blocker / "hub"))
    with pytest.raises(HubError, match="cannot write the Hub cache") as info:
        fetch_file("org/tiny", "model.safetensors")
    assert not isinstance(info.value, HubConnectionError) and "\n" not in str(info.value)
