"""The zoo's hands stay on its own files: healing, pushing and training never delete, overwrite or
upload what the zoo did not write (issue 19, item 1)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.hub.client import fetch_file
from zoo.weights.state_file import state_arrays

SPEC = zoo.ModelSpec(
    stages=(zoo.StageSpec(depth=1, width=8, group_width=4),), stem_width=8, num_classes=3, in_channels=1, input_size=32
)


def pushed(seed: int = 0) -> dict[str, np.ndarray]:
    model = zoo.create(SPEC, seed=seed)
    zoo.push_to_hub(model, "org/tiny", commit_message="w")
    return state_arrays(model)


@pytest.mark.parametrize("planted", ["weights", "config"])
def test_healing_removes_a_planted_link_never_its_target(hub, tmp_path, planted):
    original = pushed(seed=1)
    name = "model.safetensors" if planted == "weights" else "config.json"
    path = fetch_file("org/tiny", name)
    assert path is not None
    private = tmp_path / "private" / "notes.txt"
    private.parent.mkdir()
    private.write_bytes(b"the user's own file, outside the cache")
    path.unlink()
    path.symlink_to(private)  # a snapshot entry planted to point outside the cache

    loaded = zoo.load("hf-hub:org/tiny")

    assert private.read_bytes() == b"the user's own file, outside the cache"
    arrays = state_arrays(loaded)
    assert all(np.array_equal(arrays[k], original[k]) for k in original)  # healed by fetching again
    assert path.resolve() != private.resolve()


def test_healing_never_deletes_a_file_a_planted_blob_link_points_to(hub, tmp_path):
    pushed(seed=2)
    path = fetch_file("org/tiny", "model.safetensors")
    assert path is not None
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(b"not weights at all")
    path.unlink()
    os.symlink(outside, path)

    zoo.load("hf-hub:org/tiny")

    assert outside.read_bytes() == b"not weights at all"
    assert Path(os.readlink(path)) != outside


@pytest.mark.parametrize("name", ["README.md", "config.json", "model.safetensors"])
def test_push_refuses_a_link_that_leaves_the_folder_and_uploads_nothing(hub, tmp_path, name):
    folder = tmp_path / "saved"
    zoo.save_pretrained(zoo.create(SPEC, seed=0), folder)
    private = tmp_path / "private.txt"
    private.write_bytes((folder / name).read_bytes() if name != "README.md" else b"my private diary")
    (folder / name).unlink(missing_ok=True)
    (folder / name).symlink_to(private)

    with pytest.raises(zoo.errors.HubError, match=rf"{name} is a link to .*outside"):
        zoo.push_to_hub(folder, "org/leak")

    assert not [r for r in hub.requests if r[0] == "POST"]  # nothing was committed


def test_push_accepts_a_link_that_stays_inside_the_folder(hub, tmp_path):
    folder = tmp_path / "saved"
    zoo.save_pretrained(zoo.create(SPEC, seed=0), folder)
    (folder / "card.md").write_text("# my card\n")
    (folder / "README.md").unlink(missing_ok=True)
    (folder / "README.md").symlink_to("card.md")
    zoo.push_to_hub(folder, "org/inside")
    assert zoo.load("hf-hub:org/inside") is not None
