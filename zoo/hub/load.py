"""Models from the Hub: a registry tag, or any repo whose config.json says what it holds.

A repo's config.json picks the weight layout (keras-hub style) among those the api layer hands
down: ours, transformers' RegNet (the spec is read from it), timm's (the spec comes from the
registry by its architecture name), or a plugin's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import HubError
from zoo.hub.client import fetch_file, hub_settings, split_revision
from zoo.hub.tags import PretrainedTag
from zoo.nn.anynet import AnyNet
from zoo.spec import ModelSpec
from zoo.weights.config import CONFIG_NAME, read_json
from zoo.weights.layouts import LayoutSet
from zoo.weights.pretrained import build_from_config, build_pretrained
from zoo.weights.state_file import WEIGHTS_NAME


def fetch_required(repo_id: str, filename: str, **kwargs: Any) -> Path:
    """fetch_file for a file that must exist: a missing one raises HubError there, never returns None."""
    path = fetch_file(repo_id, filename, required=True, **kwargs)
    if path is None:  # pragma: no cover - fetch_file(required=True) raises instead
        raise HubError(f"Hub repo {repo_id} has no {filename}")
    return path


def fetch_tag(tag: PretrainedTag) -> Path:
    """The tag's weights file from the Hub cache (downloaded if needed), sha256-checked where pinned."""
    return fetch_required(tag.repo_id, tag.filename, revision=tag.revision, sha256=tag.sha256, settings=hub_settings())


def load_tag(tag: PretrainedTag, spec: ModelSpec, *, layouts: LayoutSet, seed: int = 0, **overrides: Any) -> AnyNet:
    weights = fetch_tag(tag)
    where = f"{tag.name} (Hub repo {tag.repo_id} at {tag.revision}, {tag.filename})"
    return build_pretrained(
        weights,
        layouts=layouts,
        spec=spec,
        layout=tag.layout,
        source_sha256=tag.sha256,
        seed=seed,
        where=where,
        **overrides,
    )


def _snapshot_commit(path: Path) -> str | None:
    """The commit a cached file belongs to (hub cache: .../snapshots/<commit>/<file>)."""
    return path.parent.name if path.parent.parent.name == "snapshots" else None


def load_hub_repo(repo: str, *, layouts: LayoutSet, seed: int = 0, **overrides: Any) -> AnyNet:
    """A model from 'org/name[@revision]': config.json picks the layout, model.safetensors holds the weights."""
    repo_id, revision = split_revision(repo)
    settings = hub_settings()
    config_path = fetch_file(repo_id, CONFIG_NAME, revision=revision, settings=settings, required=False)
    config = read_json(config_path) if config_path else None
    # Fetch the weights from the commit the config came from, so a push in between cannot mix them.
    pinned = (_snapshot_commit(config_path) if config_path else None) or revision
    weights = fetch_required(repo_id, WEIGHTS_NAME, revision=pinned, settings=settings)
    where = f"Hub repo {repo_id} at {revision or 'main'}"
    return build_from_config(weights, config, layouts=layouts, config_where=where, where=where, seed=seed, **overrides)
