"""Building models by name or spec: `create`, and `load` with pretrained weights (docs/weights.md).

`load` is told what it gets, never guesses: a plain string is a registry name (optionally
`name.tag`); `hf-hub:org/repo[@rev]` and `local-dir:PATH` are sources by prefix; a weights file
comes by keyword (`checkpoint_path=`); `pretrained` is a bool or a tag name. It reads top to
bottom as the pipeline in zoo.loading: resolve -> open -> build.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, overload

from flax import nnx

from zoo import loading
from zoo.errors import PretrainedArgumentError, SpecError, UnknownModelError
from zoo.features import FeatureBackbone, as_backbone
from zoo.loading import (  # noqa: F401 - the names zoo.api has always offered
    FORMS,
    HUB_PREFIX,
    LOCAL_DIR_PREFIX,
    SOURCE_PREFIXES,
    resolve_tag,
    split_tag,
    weight_layouts,
)
from zoo.nn.anynet import AnyNet
from zoo.nn.drop import model_rngs
from zoo.nn.precision import set_compute_dtype
from zoo.registry import get_spec
from zoo.spec import ModelSpec


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
    `drop_rate=` (dropout before the classifier) and `drop_path_rate=` (stochastic depth, rising
    linearly over the blocks to this rate) act in train mode only and leave the initial parameters
    as they are (zoo.nn.drop). `features_only=True` returns the backbone: a module whose output is
    the list of feature maps `out_indices` selects (0 = stem, i = stage i; default all), with
    `feature_info`. It builds no weights: `pretrained=True` is refused, pointing to zoo.load."""
    _refuse_weights(name_or_spec, overrides)
    _check_features(features_only, out_indices)
    spec = resolve_spec(name_or_spec, **overrides)
    model = loading.init_model(spec, rngs if rngs is not None else model_rngs(seed))
    model = set_compute_dtype(model, dtype) if dtype is not None else model
    return as_backbone(model, out_indices) if features_only else model


def _refuse_weights(name_or_spec: str | ModelSpec, overrides: dict[str, Any]) -> None:
    """timm's create_model(name, pretrained=True) habit, pointed at zoo.load; pretrained=False is create's meaning."""
    if overrides.get("pretrained", False) is False:
        overrides.pop("pretrained", None)
    for keyword in ("pretrained", "checkpoint_path"):
        if keyword in overrides:
            if isinstance(name_or_spec, str):
                call = f"zoo.load({name_or_spec!r}, {keyword}={overrides[keyword]!r})"
            else:  # a spec has no published weights, only files
                call = "zoo.load(spec, checkpoint_path='model.safetensors')"
            raise PretrainedArgumentError(
                f"zoo.create builds a randomly initialised model and takes no {keyword}=; for weights, use {call}"
            )


def _check_features(features_only: bool, out_indices: Any) -> None:
    if out_indices is not None and not features_only:
        raise SpecError("out_indices selects the maps of a backbone; pass features_only=True with it")


def load(
    name: str | ModelSpec | None = None,
    pretrained: bool | str = False,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    revision: str | None = None,
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
    `features_only=True` / `out_indices` return its backbone, as `create` does (a folder saved from a
    backbone loads as that backbone). `cache_dir`, `token`,
    `local_files_only` and `revision` (of an hf-hub: source) are huggingface_hub's, with the
    environment (HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE) as their default.
    """
    _check_features(features_only, out_indices)
    source = loading.resolve(name, pretrained, checkpoint_path=checkpoint_path, revision=revision)
    hub = loading.settings(cache_dir=cache_dir, token=token, local_files_only=local_files_only)
    opened = loading.open(source, hub)
    model = loading.build(opened, seed=seed, **overrides)
    if opened.out_indices is not None:  # a folder save_pretrained wrote from a backbone
        return as_backbone(model, out_indices if out_indices is not None else opened.out_indices)
    return as_backbone(model, out_indices) if features_only else model


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


def download(
    name: str,
    pretrained: bool | str = True,
    *,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    revision: str | None = None,
) -> Path:
    """Fetch the weights `load(name, pretrained)` would use into the Hub cache, without building the
    model (for `zoo download`, and before going offline); returns the cached file. The keywords are
    `load`'s."""
    if isinstance(name, str) and name.startswith(loading.LOCAL_DIR_PREFIX):
        raise UnknownModelError(f"{name!r} is a local folder; there is nothing to download")
    if isinstance(name, str) and name.startswith(loading.HUB_PREFIX):
        source = loading.resolve(name, False, revision=revision)
    else:
        source = loading.resolve(name, pretrained or True, revision=revision)
    hub = loading.settings(cache_dir=cache_dir, token=token, local_files_only=local_files_only)
    weights = loading.fetch(source, hub)[1]
    assert weights is not None
    return weights
