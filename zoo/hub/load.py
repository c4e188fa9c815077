"""Files from the Hub for a load: a registry tag's weights, a repo's files pinned to one commit.

zoo.loading.open fetches through these and reads a repo's config.json, which picks the weight
layout (keras-hub style): ours, transformers' RegNet, timm's, or a plugin's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import HubError
from zoo.hub.client import HubSettings, fetch_file, hub_settings
from zoo.hub.tags import PretrainedTag
from zoo.nn.anynet import AnyNet
from zoo.spec import ModelSpec
from zoo.weights.layouts import LayoutSet
from zoo.weights.pretrained import build_pretrained


def fetch_required(repo_id: str, filename: str, **kwargs: Any) -> Path:
    """fetch_file for a file that must exist: a missing one raises HubError there, never returns None."""
    path = fetch_file(repo_id, filename, required=True, **kwargs)
    if path is None:  # pragma: no cover - fetch_file(required=True) raises instead
        raise HubError(f"Hub repo {repo_id} has no {filename}")
    return path


def fetch_tag(tag: PretrainedTag, settings: HubSettings | None = None) -> Path:
    """The tag's weights file from the Hub cache (downloaded if needed), sha256-checked where pinned."""
    return fetch_required(
        tag.repo_id, tag.filename, revision=tag.revision, sha256=tag.sha256, settings=settings or hub_settings()
    )


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


def snapshot_commit(path: Path) -> str | None:
    """The commit a cached file belongs to (hub cache: .../snapshots/<commit>/<file>)."""
    return path.parent.name if path.parent.parent.name == "snapshots" else None
