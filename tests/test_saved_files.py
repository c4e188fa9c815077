"""What the zoo writes: the same model gives the same bytes, files honour the umask, the card escapes user text."""

from __future__ import annotations

import hashlib
import os

import pytest
import yaml

import zoo
from zoo.hub.card import markdown_text, render_model_card
from zoo.hub.card import one_line as markdown_one_line
from zoo.weights.pretrained import save_pretrained
from zoo.weights.state_file import save_arrays, state_arrays

SPEC = zoo.ModelSpec(
    stages=(zoo.StageSpec(depth=1, width=8, group_width=4),), stem_width=8, num_classes=3, in_channels=1, input_size=32
)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_saving_the_same_model_twice_gives_the_same_bytes(tmp_path):
    model = zoo.create(SPEC, seed=1)
    digests = {digest(save_pretrained(model, tmp_path / f"run{i}") / "model.safetensors") for i in range(6)}
    assert len(digests) == 1


def test_metadata_order_does_not_change_the_bytes(tmp_path):
    arrays = state_arrays(zoo.create(SPEC))
    meta = {f"k{i}": str(i) for i in range(12)}
    first = save_arrays(arrays, tmp_path / "a.safetensors", metadata=meta)
    second = save_arrays(arrays, tmp_path / "b.safetensors", metadata=dict(reversed(meta.items())))
    assert digest(first) == digest(second)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        folder = save_pretrained(zoo.create(SPEC), tmp_path / "m")
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.json"):
        assert os.stat(folder / name).st_mode & 0o777 == 0o666 & ~umask


HOSTILE = ["a|b", "x\n---\nlicense: evil", "# heading", "<script>alert(1)</script>", "back\\slash`code`"]


@pytest.mark.parametrize("text", HOSTILE)
def test_dataset_and_metric_names_cannot_break_the_card(tmp_path, text):
    folder = save_pretrained(zoo.create(SPEC), tmp_path / "m")
    card = render_model_card(folder, repo_id="org/card", metrics={text: 0.5, "top1": 0.9}, dataset=text)
    lines = card.splitlines()
    end = lines.index("---", 1)
    assert lines[0] == "---" and lines.count("---") == 2  # nothing else can close or open the front matter
    meta = yaml.safe_load("\n".join(lines[1:end]))
    assert meta["datasets"] == [markdown_one_line(text)] and markdown_one_line(text) in meta["metrics"]
    body = "\n".join(lines[end + 1 :])
    assert "<script>" not in body and not any(line.startswith("# heading") for line in lines)
    rows = [line for line in body.splitlines() if line.startswith("| ") and "0.5 |" in line]
    assert len(rows) == 1 and rows[0].count(" | ") == 1  # one row, two cells: no stray column separator
    assert f"| {markdown_text(text)} | 0.5 |" in body


def test_markdown_text_keeps_plain_names_readable():
    assert markdown_text("imagenet-1k") == "imagenet-1k" and markdown_text("top1 acc") == "top1 acc"


def test_an_unwritable_or_overlong_folder_is_a_typed_error(tmp_path):
    from zoo.errors import WriteError

    model = zoo.create(SPEC)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for target in (tmp_path / ("x" * 300), blocker / "m"):
        with pytest.raises(WriteError, match="cannot save the model to") as info:
            save_pretrained(model, target)
        assert "\n" not in str(info.value)
