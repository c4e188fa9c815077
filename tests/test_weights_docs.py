"""docs/weights.md's Hub examples run: `py` blocks in order, then its `zoo` lines, on a loopback Hub.

(Its offline `python` blocks and read-only `zoo` lines run in tests/test_docs.py.)
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from safetensors.numpy import save_file
from test_convert import reference_model, to_timm_names, transformers_state

import zoo
from zoo.cli import build_parser, main

DOC = Path(__file__).resolve().parents[1] / "docs" / "weights.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def zoo_lines(language: str) -> list[str]:
    return [line.strip() for block in blocks(language) for line in block.splitlines() if line.startswith("zoo ")]


def seed_hub(hub, tmp_path: Path) -> None:
    """What the docs' examples fetch: the seed's weights and timm's regnetx_002.pycls_in1k."""
    zoo.push_to_hub(zoo.create("regnetx32"), "zoo-test/regnetx32-fashion-mnist", commit_message="seed")
    spec = zoo.get_spec("regnetx_002")
    reference = reference_model(
        "x",
        embedding_size=spec.stem_width,
        hidden_sizes=spec.widths,
        depths=spec.depths,
        groups_width=spec.stages[0].group_width,
        num_labels=1000,
    )
    save_file(to_timm_names(transformers_state(reference)), str(tmp_path / "timm.safetensors"))
    config = {
        "architecture": "regnetx_002",
        "num_classes": 1000,
        "num_features": spec.widths[-1],
        "pretrained_cfg": {"tag": "pycls_in1k"},
    }
    hub.state.put_file("timm/regnetx_002.pycls_in1k", "model.safetensors", (tmp_path / "timm.safetensors").read_bytes())
    hub.state.put_file("timm/regnetx_002.pycls_in1k", "config.json", json.dumps(config).encode())


def test_hub_examples_run_in_order(hub, tmp_path, monkeypatch, capsys):
    seed_hub(hub, tmp_path)
    monkeypatch.chdir(tmp_path)
    zoo.save_pretrained(zoo.create("regnetx32"), tmp_path / "runs" / "regnetx32-fmnist")
    namespace: dict = {"__name__": "weights_doc"}
    examples = blocks("py")
    assert len(examples) >= 2
    for i, code in enumerate(examples):
        exec(compile(code, f"weights.md py block {i}", "exec"), namespace)
    lines = [line for line in zoo_lines("bash") if shlex.split(line)[1] in ("download", "push")]
    assert len(lines) >= 3
    for line in lines:
        assert main(shlex.split(line)[1:]) == 0, (line, capsys.readouterr().err)


def test_the_publishing_commands_parse():
    """The exact `zoo train` + `zoo push` commands the docs give are valid for the CLI."""
    lines = zoo_lines("text")
    assert [shlex.split(line)[1] for line in lines] == ["train", "push"]
    for line in lines:
        build_parser().parse_args(shlex.split(line)[1:])
