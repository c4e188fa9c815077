"""Building models by name or spec: `create`, and `load` with pretrained weights (docs/weights.md).

`load` composes the registry (names, aliases, pretrained tags) with zoo.weights.pretrained
(files and folders) and zoo.hub (the Hugging Face Hub); those modules know files and specs,
not the registry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flax import nnx

from zoo.errors import PretrainedError, UnknownModelError
from zoo.nn.anynet import AnyNet
from zoo.plugins import manager
from zoo.registry import get_spec, registry
from zoo.spec import ModelSpec

HUB_PREFIX = "hf-hub:"


def resolve_spec(name_or_spec: str | ModelSpec, **overrides: Any) -> ModelSpec:
    """A spec from a name or spec, with ModelSpec fields overridden (num_classes=..., ...)."""
    spec = name_or_spec if isinstance(name_or_spec, ModelSpec) else get_spec(name_or_spec)
    return spec.replace(**overrides) if overrides else spec


def create(name_or_spec: str | ModelSpec, *, seed: int = 0, rngs: nnx.Rngs | None = None, **overrides: Any) -> AnyNet:
    """Build a randomly initialised model; keyword overrides replace spec fields."""
    spec = resolve_spec(name_or_spec, **overrides)
    return AnyNet(spec, rngs=rngs if rngs is not None else nnx.Rngs(seed), plugins=manager())


def split_tag(name: str) -> tuple[Any, str | None]:
    """'regnetx_032.pycls_in1k' -> (entry, 'pycls_in1k'); a full name or alias wins over a split,
    so aliases that contain a dot ('RegNetX-3.2GF') still resolve."""
    reg = registry()
    try:
        return reg.resolve(name), None
    except UnknownModelError:
        base, dot, tag = name.rpartition(".")
        if not dot or not base:
            raise
        try:
            return reg.resolve(base), tag
        except UnknownModelError:
            raise UnknownModelError(
                f"unknown model {name!r} (nor is {base!r} a model with a tag {tag!r}). Run `zoo list` to see "
                "every model, `zoo list --pretrained` for the tags"
            ) from None


def pretrained_tags(name: str) -> dict:
    """The pretrained tags of a named model, as PretrainedTag values keyed by tag."""
    from zoo.hub.tags import parse_tags

    entry, _ = split_tag(name)
    return parse_tags(entry.name, entry.table.get("pretrained"), entry.where)


def resolve_tag(name: str, pretrained: bool | str = True):
    """The PretrainedTag that `load(name, pretrained)` would fetch."""
    from zoo.hub.tags import parse_tags, pick_tag

    entry, tag = split_tag(name)
    if isinstance(pretrained, str):
        if tag is not None and tag != pretrained:
            raise PretrainedError(f"{name!r} names tag {tag!r} but pretrained={pretrained!r}; give one of them")
        tag = pretrained
    return pick_tag(entry.name, parse_tags(entry.name, entry.table.get("pretrained"), entry.where), tag)


def _looks_like_path(value: Any) -> bool:
    if isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and (value.endswith(".safetensors") or os.sep in value or value.startswith("."))


def load(
    name_or_spec: str | ModelSpec | os.PathLike, pretrained: bool | str = False, *, seed: int = 0, **overrides: Any
) -> AnyNet:
    """Build a model, with pretrained weights when asked for (see docs/weights.md).

    - `load("regnetx_032")`: random init, as `create`.
    - `load("regnetx_032", pretrained=True)`: the default tag's weights from the Hub;
      `pretrained="pycls_in1k"` or the name `"regnetx_032.pycls_in1k"` picks a tag.
    - `load(name, pretrained="path/model.safetensors")`: a local file (zoo, timm or transformers layout).
    - `load("path/to/folder")`: a folder written by `save_pretrained`.
    - `load("hf-hub:org/repo@revision")`: any Hub repo with a config.json and model.safetensors.
    Overrides change spec fields; a different num_classes re-initialises the head, a different
    in_channels adapts the stem.
    """
    from zoo.weights.pretrained import build_pretrained, load_folder

    if isinstance(name_or_spec, str) and name_or_spec.startswith(HUB_PREFIX):
        from zoo.hub.load import load_hub_repo

        return load_hub_repo(name_or_spec[len(HUB_PREFIX) :], seed=seed, **overrides)
    if _looks_like_path(name_or_spec):
        path = Path(name_or_spec)
        if path.is_dir():
            return load_folder(path, seed=seed, **overrides)
        return build_pretrained(path, seed=seed, **overrides)
    if isinstance(name_or_spec, ModelSpec):
        if isinstance(pretrained, str):
            return build_pretrained(pretrained, spec=name_or_spec, seed=seed, **overrides)
        if pretrained:
            raise PretrainedError("a bare ModelSpec has no published weights; pass pretrained='path/model.safetensors'")
        return create(name_or_spec, seed=seed, **overrides)
    try:
        entry, tag = split_tag(name_or_spec)
    except UnknownModelError:
        if isinstance(name_or_spec, str) and Path(name_or_spec).is_dir():
            return load_folder(name_or_spec, seed=seed, **overrides)
        raise
    if isinstance(pretrained, str) and _looks_like_path(pretrained):
        return build_pretrained(pretrained, spec=entry.spec(), seed=seed, where=pretrained, **overrides)
    if not pretrained:
        return create(entry.spec(), seed=seed, **overrides)
    from zoo.hub.load import load_tag

    return load_tag(resolve_tag(name_or_spec, pretrained), entry.spec(), seed=seed, **overrides)


def download(name: str, pretrained: bool | str = True) -> Path:
    """Fetch the weights `load(name, pretrained)` would use into the Hub cache, without building the
    model (for `zoo download`, and before going offline); returns the cached file."""
    from zoo.hub.client import fetch_file, hub_settings, split_revision
    from zoo.hub.load import fetch_tag

    if name.startswith(HUB_PREFIX):
        repo_id, revision = split_revision(name[len(HUB_PREFIX) :])
        settings = hub_settings()
        fetch_file(repo_id, "config.json", revision=revision, settings=settings, required=False)
        return fetch_file(repo_id, "model.safetensors", revision=revision, settings=settings)
    return fetch_tag(resolve_tag(name, pretrained))
