"""Building models by name or spec: `create`, and `load` with pretrained weights (docs/weights.md).

`load` is told what it gets, never guesses: a plain string is a registry name (optionally
`name.tag`); `hf-hub:org/repo[@rev]` and `local-dir:PATH` are sources by prefix; a weights file
comes by keyword (`checkpoint_path=`); `pretrained` is a bool or a tag name. This is the layer
that consults the plugin manager: it hands the registry's specs and the registered weight
layouts down to zoo.weights and zoo.hub, which know files and specs, not the registry.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, overload

from flax import nnx
from huggingface_hub import try_to_load_from_cache

from zoo.data_config import (
    DataConfig,
    attach,
    from_config_json,
    from_folder,
    from_packaged,
    from_tag,
    shipped_folder,
)
from zoo.errors import HubReferenceError, PretrainedError, SpecError, UnknownModelError
from zoo.features import FeatureBackbone, as_backbone
from zoo.hub.client import fetch_file, hub_settings, split_revision
from zoo.hub.load import fetch_required, fetch_tag, load_hub_repo, load_tag
from zoo.hub.tags import PretrainedTag, parse_tags, pick_tag
from zoo.nn.anynet import AnyNet
from zoo.nn.precision import set_compute_dtype
from zoo.plugins import manager
from zoo.registry import Entry, get_spec, registry
from zoo.spec import ModelSpec
from zoo.weights.config import CONFIG_NAME, read_json
from zoo.weights.layouts import LayoutSet
from zoo.weights.pretrained import build_pretrained, load_folder
from zoo.weights.state_file import WEIGHTS_NAME

HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
SOURCE_PREFIXES = (HUB_PREFIX, LOCAL_DIR_PREFIX)
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
FORMS = (
    "a registry name ('regnetx_032', 'regnetx_032.pycls_in1k'), 'hf-hub:org/repo[@revision]', "
    "'local-dir:PATH' (a folder written by zoo.save_pretrained), or a ModelSpec; a weights file goes "
    "by keyword: zoo.load(name, checkpoint_path='model.safetensors')"
)


def resolve_spec(name_or_spec: str | ModelSpec, **overrides: Any) -> ModelSpec:
    """A spec from a name or spec, with ModelSpec fields overridden (num_classes=..., ...)."""
    spec = name_or_spec if isinstance(name_or_spec, ModelSpec) else get_spec(name_or_spec)
    return spec.replace(**overrides) if overrides else spec


@overload
def create(
    name_or_spec: str | ModelSpec,
    *,
    seed: int = 0,
    rngs: nnx.Rngs | None = None,
    dtype: Any = None,
    features_only: Literal[False] = False,
    out_indices: int | tuple[int, ...] | None = None,
    **overrides: Any,
) -> AnyNet: ...


@overload
def create(
    name_or_spec: str | ModelSpec,
    *,
    seed: int = 0,
    rngs: nnx.Rngs | None = None,
    dtype: Any = None,
    features_only: bool,
    out_indices: int | tuple[int, ...] | None = None,
    **overrides: Any,
) -> AnyNet | FeatureBackbone: ...


def create(
    name_or_spec: str | ModelSpec,
    *,
    seed: int = 0,
    rngs: nnx.Rngs | None = None,
    dtype: Any = None,
    features_only: bool = False,
    out_indices: int | tuple[int, ...] | None = None,
    **overrides: Any,
) -> AnyNet | FeatureBackbone:
    """Build a randomly initialised model; keyword overrides replace spec fields. `dtype=jnp.bfloat16`
    computes in bfloat16 with float32 parameters and BN statistics (zoo.nn.precision).
    `features_only=True` returns the backbone: a module whose output is the list of feature maps
    `out_indices` selects (0 = stem, i = stage i; default all), with `feature_info`."""
    _check_features(features_only, out_indices)
    spec = resolve_spec(name_or_spec, **overrides)
    model = AnyNet(spec, rngs=rngs if rngs is not None else nnx.Rngs(seed), plugins=manager())
    model = set_compute_dtype(model, dtype) if dtype is not None else model
    return as_backbone(model, out_indices) if features_only else model


def _check_features(features_only: bool, out_indices: Any) -> None:
    if out_indices is not None and not features_only:
        raise SpecError("out_indices selects the maps of a backbone; pass features_only=True with it")


def weight_layouts() -> LayoutSet:
    """The weight layouts the loaded plugins register (the zoo's own, timm's, transformers', ...),
    with the parts plugins add to them and the registry's name -> spec."""
    tables = manager().tables()
    return LayoutSet(
        layouts={name: record for name, (record, _) in tables["layout"].items()},
        parts=tuple(record for record, _ in tables["layout_part"].values()),
        spec_for_name=get_spec,
    )


def split_tag(name: str) -> tuple[Entry, str | None]:
    """'regnetx_032.pycls_in1k' -> (entry, 'pycls_in1k'); a full name or alias wins over a split,
    so aliases that contain a dot ('RegNetX-3.2GF') still resolve. An unknown name that looks like
    a Hub repo or a local path gets an error saying how to spell that source."""
    reg = registry()
    try:
        return reg.resolve(name), None
    except UnknownModelError as err:
        base, dot, tag = name.rpartition(".")
        if dot and base:
            try:
                return reg.resolve(base), tag
            except UnknownModelError:
                pass
        hint = _source_hint(name)
        if hint:
            raise UnknownModelError(f"unknown model {name!r}: {hint}") from None
        if dot and base:
            raise UnknownModelError(
                f"unknown model {name!r} (nor is {base!r} a model with a tag {tag!r}). Run `zoo list` to see "
                "every model, `zoo list --pretrained` for the tags"
            ) from None
        raise err from None


def _source_hint(name: str) -> str | None:
    """How to spell the source an unknown name seems to mean, or None."""
    path = Path(name)
    if path.is_dir():
        return f"it is a folder; load a folder written by zoo.save_pretrained as 'local-dir:{name}'"
    if path.is_file() or name.endswith(".safetensors"):
        return f"a weights file goes by keyword: zoo.load(NAME, checkpoint_path={name!r})"
    if REPO_ID.match(name):
        return f"it is shaped like a Hugging Face Hub repo; load a repo as 'hf-hub:{name}'"
    return None


def resolve_tag(name: str, pretrained: bool | str = True) -> PretrainedTag:
    """The PretrainedTag that `load(name, pretrained)` would fetch."""
    entry, tag = split_tag(name)
    if isinstance(pretrained, str):
        if tag is not None and tag != pretrained:
            raise PretrainedError(f"{name!r} names tag {tag!r} but pretrained={pretrained!r}; give one of them")
        tag = pretrained
    return pick_tag(entry.name, parse_tags(entry.name, entry.table.get("pretrained"), entry.where), tag)


def _check_pretrained(pretrained: Any) -> None:
    if isinstance(pretrained, bool):
        return
    if not isinstance(pretrained, str) or not pretrained:
        raise PretrainedError(
            f"pretrained must be True, False or a tag name, got {type(pretrained).__name__} {pretrained!r}; "
            "a weights file goes by keyword: checkpoint_path='model.safetensors'"
        )
    if "/" in pretrained or os.sep in pretrained or pretrained.endswith(".safetensors"):
        raise PretrainedError(
            f"pretrained={pretrained!r} is not a tag name; pretrained takes True or a tag ('pycls_in1k'), "
            f"a weights file goes by keyword: checkpoint_path={pretrained!r}"
        )


def _source(name: str, pretrained: bool | str) -> str:
    """The part after a source prefix, refusing `pretrained` (a source holds its own weights)."""
    prefix = next(p for p in SOURCE_PREFIXES if name.startswith(p))
    rest = name[len(prefix) :]
    if pretrained:
        raise PretrainedError(
            f"{name!r} is a {prefix[:-1]} source and holds its own weights; leave out pretrained={pretrained!r}"
        )
    if prefix == HUB_PREFIX and not rest:
        raise HubReferenceError(f"{name!r} names no repo after {prefix!r}: write 'hf-hub:org/repo[@revision]'")
    if not rest:
        raise UnknownModelError(f"{name!r} names no folder after {prefix!r}: write 'local-dir:PATH'")
    if prefix == HUB_PREFIX and not REPO_ID.match(split_revision(rest)[0]):
        raise HubReferenceError(f"{name!r}: a Hub source is 'hf-hub:org/repo' or 'hf-hub:org/repo@revision'")
    return rest


def load(
    name: str | ModelSpec | None = None,
    pretrained: bool | str = False,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    seed: int = 0,
    features_only: bool = False,
    out_indices: int | tuple[int, ...] | None = None,
    **overrides: Any,
) -> AnyNet | FeatureBackbone:
    """Build a model, with pretrained weights when asked for (see docs/weights.md).

    - `load("regnetx_032")`: random init, as `create`.
    - `load("regnetx_032", pretrained=True)`: the default tag's weights from the Hub;
      `pretrained="pycls_in1k"` or the name `"regnetx_032.pycls_in1k"` (with pretrained=True) picks a tag.
    - `load("hf-hub:org/repo@revision")`: any Hub repo with a config.json and model.safetensors.
    - `load("local-dir:path/to/folder")`: a folder written by `save_pretrained` (or a Hub snapshot).
    - `load(name_or_spec, checkpoint_path="model.safetensors")`: a local file in any registered
      layout; without a name, the spec comes from the file's own metadata.
    Overrides change spec fields; a different num_classes re-initialises the head, a different
    in_channels adapts the stem. The model carries the data config of its source (zoo.data_config);
    `features_only=True` / `out_indices` return its backbone, as `create` does.
    """
    _check_features(features_only, out_indices)
    model = _load(name, pretrained, checkpoint_path, seed, overrides)
    return as_backbone(model, out_indices) if features_only else model


def _load(
    name: str | ModelSpec | None,
    pretrained: bool | str,
    checkpoint_path: str | os.PathLike | None,
    seed: int,
    overrides: dict[str, Any],
) -> AnyNet:
    _check_pretrained(pretrained)
    if checkpoint_path is not None:
        return _load_checkpoint(name, pretrained, checkpoint_path, seed, overrides)
    if isinstance(name, ModelSpec):
        if pretrained:
            raise PretrainedError(
                "a ModelSpec has no published weights; pass its weights file as checkpoint_path='model.safetensors'"
            )
        return create(name, seed=seed, **overrides)
    if not isinstance(name, str):
        what = "nothing" if name is None else f"{type(name).__name__} {name!r}"
        raise UnknownModelError(f"zoo.load got {what}; it takes {FORMS}")
    if name.startswith(HUB_PREFIX):
        repo = _source(name, pretrained)
        model = load_hub_repo(repo, layouts=weight_layouts(), seed=seed, **overrides)
        return attach(model, _hub_data_config(repo, model.spec))
    if name.startswith(LOCAL_DIR_PREFIX):
        folder = _source(name, pretrained)
        model = load_folder(folder, layouts=weight_layouts(), seed=seed, **overrides)
        return attach(model, from_folder(folder, model.spec))
    entry, tag = split_tag(name)
    if tag is not None and not pretrained:
        raise PretrainedError(
            f"{name!r} names the pretrained tag {tag!r} but pretrained=False; pass pretrained=True for its "
            f"weights, or the bare name {entry.name!r} for a randomly initialised model"
        )
    if not pretrained:
        return create(entry.spec(), seed=seed, **overrides)
    layouts = weight_layouts()
    found = resolve_tag(name, pretrained)
    if found.packaged:  # weights the package ships: no network
        shipped = shipped_folder(found.packaged)
        model = load_folder(shipped, layouts=layouts, seed=seed, **overrides)
        return attach(model, from_packaged(shipped, found, model.spec))
    layouts.get(found.layout, f"{entry.where} pretrained tag {found.tag!r}")  # before any download
    model = load_tag(found, entry.spec(), layouts=layouts, seed=seed, **overrides)
    return attach(model, from_tag(found, model.spec))


def _hub_data_config(repo: str, spec: ModelSpec) -> DataConfig:
    """The data config in the config.json load_hub_repo just cached (read from the cache, no request)."""
    repo_id, revision = split_revision(repo)
    cached = try_to_load_from_cache(repo_id, CONFIG_NAME, revision=revision, cache_dir=hub_settings().cache_dir)
    if isinstance(cached, str):
        return from_config_json(read_json(cached), spec, f"Hub repo {repo_id} {CONFIG_NAME}")
    return DataConfig.default_for(spec)


def _load_checkpoint(
    name: str | ModelSpec | None, pretrained: bool | str, path: str | os.PathLike, seed: int, overrides: dict
) -> AnyNet:
    if pretrained:
        raise PretrainedError(
            f"give pretrained={pretrained!r} (published weights) or checkpoint_path= (a local file), not both"
        )
    if not isinstance(path, (str, os.PathLike)):
        raise PretrainedError(f"checkpoint_path must be a path to a .safetensors file, got {type(path).__name__}")
    if Path(path).is_dir():
        raise PretrainedError(f"checkpoint_path {str(path)!r} is a folder; load a folder as 'local-dir:{path}'")
    spec: ModelSpec | None
    if name is None or isinstance(name, ModelSpec):
        spec = name
    elif isinstance(name, str) and name.startswith(SOURCE_PREFIXES):
        raise PretrainedError(f"{name!r} is a source with its own weights; checkpoint_path= goes with a name or spec")
    elif isinstance(name, str):
        entry, tag = split_tag(name)
        if tag is not None:
            raise PretrainedError(f"{name!r} names tag {tag!r} and checkpoint_path= a file; give one of them")
        spec = entry.spec()
    else:
        raise UnknownModelError(f"zoo.load got {type(name).__name__} {name!r}; it takes {FORMS}")
    return build_pretrained(path, layouts=weight_layouts(), spec=spec, seed=seed, where=str(path), **overrides)


def cli_source(arg: str) -> str:
    """A command-line MODEL argument in `load`'s spelling: as written, except that a path to an
    existing folder that is no registry name means 'local-dir:PATH' (`zoo eval runs/x`)."""
    if arg.startswith(SOURCE_PREFIXES) or not Path(arg).is_dir():
        return arg
    try:
        split_tag(arg)
    except UnknownModelError:
        return LOCAL_DIR_PREFIX + arg
    return arg


def download(name: str, pretrained: bool | str = True) -> Path:
    """Fetch the weights `load(name, pretrained)` would use into the Hub cache, without building the
    model (for `zoo download`, and before going offline); returns the cached file."""
    _check_pretrained(pretrained)
    if name.startswith(LOCAL_DIR_PREFIX):
        raise UnknownModelError(f"{name!r} is a local folder; there is nothing to download")
    if name.startswith(HUB_PREFIX):
        repo_id, revision = split_revision(_source(name, False))
        settings = hub_settings()
        fetch_file(repo_id, CONFIG_NAME, revision=revision, settings=settings, required=False)
        return fetch_required(repo_id, WEIGHTS_NAME, revision=revision, settings=settings)
    found = resolve_tag(name, pretrained)
    if found.packaged:
        return shipped_folder(found.packaged) / WEIGHTS_NAME
    return fetch_tag(found)
