"""The README.md model card pushed beside the weights: YAML front matter, then a readable body."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from zoo.complexity import spec_complexity
from zoo.plugins import manager
from zoo.spec import ModelSpec
from zoo.weights.config import read_config

CORE_DISTRIBUTION = "anynet-zoo"

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def one_line(text: str) -> str:
    """User text on one line: control characters and line breaks become single spaces."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", str(text)).split())


def markdown_text(text: str) -> str:
    """User text made safe inside one line of the card body: on one line (so no `---` or heading can start
    a line), with Markdown / table / HTML characters escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text))


def install_line(spec: ModelSpec, plugins: Any) -> tuple[str, list[str]]:
    """The pip command that installs what the spec's stem, block and head need (anynet-zoo plus each
    plugin distribution), and the components registered at run time that no distribution brings."""
    distributions, unpackaged = [CORE_DISTRIBUTION], []
    for kind, name in (("stem", spec.stem), ("block", spec.block), ("head", spec.head)):
        plugin = plugins.provider(kind, name)
        info = plugins.infos.get(plugin)
        distribution = info.distribution if info is not None else None
        if distribution is None:
            unpackaged.append(f"{kind} {name!r} (plugin {plugin!r})")
        elif distribution not in distributions:
            distributions.append(distribution)
    return "pip install " + " ".join(distributions), unpackaged


def card_metadata(*, metrics: Mapping[str, float] | None, dataset: str | None, license: str = "apache-2.0") -> dict:
    meta = {
        "library_name": "anynet-zoo",
        "license": license,
        "tags": ["image-classification", "jax", "flax", "anynet", "regnet", "anynet-zoo"],
        "pipeline_tag": "image-classification",
    }
    if dataset:
        meta["datasets"] = [one_line(dataset)]
    if metrics:
        meta["metrics"] = sorted(one_line(k) for k in metrics)
    return meta


def render_model_card(
    folder: str | os.PathLike, *, repo_id: str, metrics: Mapping[str, float] | None = None, dataset: str | None = None
) -> str:
    """The model card for a folder written by save_pretrained."""
    config = read_config(folder)
    spec, pre = config.spec, config.preprocessing
    plugins = manager()
    cost = spec_complexity(spec, plugins)
    pip, unpackaged = install_line(spec, plugins)
    front = yaml.safe_dump(card_metadata(metrics=metrics, dataset=dataset), sort_keys=False).strip()
    lines = [
        "---",
        front,
        "---",
        "",
        f"# {repo_id.split('/')[-1]}",
        "",
        f"An AnyNet ({spec.block} blocks, {spec.stem} stem, {spec.head} head) for {spec.num_classes} classes"
        + (f", trained on {markdown_text(dataset)}" if dataset else "")
        + ", published with anynet-zoo (JAX / Flax NNX).",
        "",
        "## Architecture",
        "",
        "| stage | depth | width | group width | bottleneck ratio | stride |",
        "|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(spec.stages):
        lines.append(f"| {i} | {s.depth} | {s.width} | {s.group_width} | {s.bottleneck_ratio:g} | {s.stride} |")
    lines += [
        "",
        f"Input {pre.input_size}x{pre.input_size}x{spec.in_channels} (NHWC, channel order {pre.channel_order}), "
        f"stem width {spec.stem_width}.",
        "",
        "## Complexity",
        "",
        f"- parameters: {cost['params']:,}",
        f"- FLOPs: {cost['flops']:,}",
        f"- activations: {cost['acts']:,}",
        "",
        "## How to load",
        "",
        "```bash",
        pip,
        "```",
        "",
        *(
            [f"It also needs {markdown_text(', '.join(unpackaged))}, registered at run time rather than installed.", ""]
            if unpackaged
            else []
        ),
        "```python",
        "import zoo",
        f'model = zoo.load("hf-hub:{repo_id}")',
        "```",
        "",
        f"Inputs: floats in [0, 1], resized ({pre.interpolation}) and center-cropped (crop_pct {pre.crop_pct:g}) "
        f"to {pre.input_size}, normalised with mean {list(pre.mean)} and std {list(pre.std)}.",
        "",
    ]
    if metrics:
        lines += ["## Training metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {markdown_text(k)} | {v:.6g} |" for k, v in sorted(metrics.items())]
        lines.append("")
    return "\n".join(lines)
