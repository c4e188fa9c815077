"""Loading as a pipeline: `resolve(source) -> Source`, `open(Source) -> Opened`, `build(Opened) -> model`.

`resolve` turns what the user wrote into one typed Source without touching a file or the network
(a registry name with or without a tag, a packaged tag, `hf-hub:org/repo@rev`, `local-dir:PATH`,
`checkpoint_path=`, or a ModelSpec). `open` fetches what the source needs and reads its config.json
once: the spec, the weight layout, the data config and the labels. `build` is the one model
builder (zoo.weights.pretrained.build_pretrained for weights, a fresh init otherwise) and attaches
the data config. This layer consults the plugin manager and the registry and hands tables down
to zoo.weights and zoo.hub, which know files and specs, not the registry.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from flax import nnx

from zoo.data_config import attach
from zoo.errors import HubReferenceError, PretrainedError, UnknownModelError, WeightsFormatError
from zoo.hub.client import HubSettings, fetch_file, hub_settings, split_revision
from zoo.hub.load import fetch_required, fetch_tag, snapshot_commit
from zoo.hub.tags import PretrainedTag, parse_tags, pick_tag
from zoo.nn.anynet import AnyNet
from zoo.nn.drop import model_rngs
from zoo.plugins import manager
from zoo.registry import Entry, get_spec, registry
from zoo.spec import ModelSpec
from zoo.weights.config import CONFIG_NAME, DataConfig, data_config_from_json, read_json, saved_out_indices
from zoo.weights.layouts import LayoutSet
from zoo.weights.pretrained import build_pretrained
from zoo.weights.state_file import WEIGHTS_NAME

HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
SOURCE_PREFIXES = (HUB_PREFIX, LOCAL_DIR_PREFIX)
SHIPPED = "shipped"  # zoo/shipped/NAME: weights folders the package carries (packaged tags)
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
FORMS = (
    "a registry name ('regnetx_032', 'regnetx_032.pycls_in1k'), 'hf-hub:org/repo[@revision]', "
    "'local-dir:PATH' (a folder written by zoo.save_pretrained), or a ModelSpec; a weights file goes "
    "by keyword: zoo.load(name, checkpoint_path='model.safetensors')"
)

Kind = Literal["init", "tag", "packaged", "hub", "folder", "file"]


@dataclass(frozen=True)
class Source:
    """Where a model comes from, as one value. `init`: a spec, no weights; `tag`: a registry tag on
    the Hub; `packaged`: a tag the package ships (`path` is its folder); `hub`: any Hub repo; `folder`:
    a local folder; `file`: a weights file, with the spec from `spec` or the file's metadata."""

    kind: Kind
    where: str
    spec: ModelSpec | None = None
    tag: PretrainedTag | None = None
    repo_id: str | None = None
    revision: str | None = None
    path: Path | None = None


@dataclass(frozen=True)
class Opened:
    """A source with its files at hand and its config.json read: what `build` needs, nothing fetched later.
    `weights` None means a fresh init; `data_config` None means the built spec's defaults."""

    source: Source
    weights: Path | None
    spec: ModelSpec | None
    layouts: LayoutSet | None = None
    layout: str | None = None
    data_config: DataConfig | None = None
    source_sha256: str | None = None
    out_indices: tuple[int, ...] | None = None  # a folder saved from a backbone: zoo.load returns one


# -- resolve: what the user wrote -> one Source, no file or network touched ----------------------------
def resolve(
    name: str | ModelSpec | None,
    pretrained: bool | str = False,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    revision: str | None = None,
) -> Source:
    """The Source `zoo.load(name, pretrained, checkpoint_path=..., revision=...)` means, or a typed error."""
    _check_pretrained(pretrained)
    if revision is not None and not (isinstance(name, str) and name.startswith(HUB_PREFIX)):
        raise HubReferenceError(
            f"revision={revision!r} picks a commit of an 'hf-hub:org/repo' source; {name!r} is none "
            "(a pretrained tag pins its own revision)"
        )
    if checkpoint_path is not None:
        return _file_source(name, pretrained, checkpoint_path)
    if isinstance(name, ModelSpec):
        if pretrained:
            raise PretrainedError(
                "a ModelSpec has no published weights; pass its weights file as checkpoint_path='model.safetensors'"
            )
        return Source("init", "a ModelSpec", spec=name)
    if not isinstance(name, str):
        what = "nothing" if name is None else f"{type(name).__name__} {name!r}"
        raise UnknownModelError(f"zoo.load got {what}; it takes {FORMS}")
    if name.startswith(HUB_PREFIX):
        repo_id, at = split_revision(_after_prefix(name, pretrained))
        if revision is not None and at is not None and at != revision:
            raise HubReferenceError(f"{name!r} names revision {at!r} but revision={revision!r}; give one of them")
        rev = revision or at
        return Source("hub", f"Hub repo {repo_id} at {rev or 'main'}", repo_id=repo_id, revision=rev)
    if name.startswith(LOCAL_DIR_PREFIX):
        folder = Path(_after_prefix(name, pretrained))
        return Source("folder", str(folder), path=folder)
    entry, tag = split_tag(name)
    if tag is not None and not pretrained:
        raise PretrainedError(
            f"{name!r} names the pretrained tag {tag!r} but pretrained=False; pass pretrained=True for its "
            f"weights, or the bare name {entry.name!r} for a randomly initialised model"
        )
    if not pretrained:
        return Source("init", entry.where, spec=entry.spec())
    found = _pick(entry, tag, pretrained, name)
    if found.packaged:  # weights the package ships: no network
        folder = shipped_folder(found.packaged)
        return Source("packaged", str(folder), spec=entry.spec(), tag=found, path=folder)
    where = f"{found.name} (Hub repo {found.repo_id} at {found.revision}, {found.filename})"
    return Source("tag", where, spec=entry.spec(), tag=found)


def _file_source(name: str | ModelSpec | None, pretrained: bool | str, path: str | os.PathLike) -> Source:
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
    return Source("file", str(path), spec=spec, path=Path(path))


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


def resolve_tag(name: str, pretrained: bool | str = True) -> PretrainedTag:
    """The PretrainedTag that `load(name, pretrained)` would fetch."""
    entry, tag = split_tag(name)
    return _pick(entry, tag, pretrained, name)


def _pick(entry: Entry, tag: str | None, pretrained: bool | str, name: str) -> PretrainedTag:
    if isinstance(pretrained, str):
        if tag is not None and tag != pretrained:
            raise PretrainedError(f"{name!r} names tag {tag!r} but pretrained={pretrained!r}; give one of them")
        tag = pretrained
    return pick_tag(entry.name, parse_tags(entry.name, entry.table.get("pretrained"), entry.where), tag)


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


def _after_prefix(name: str, pretrained: bool | str) -> str:
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


def shipped_folder(name: str) -> Path:
    """The folder of a packaged tag's weights inside the installed package (zoo/shipped/NAME)."""
    folder = Path(str(resources.files("zoo").joinpath(SHIPPED, name)))
    if not (folder / CONFIG_NAME).is_file():
        raise WeightsFormatError(f"the packaged weights {name!r} are missing from {folder}; reinstall anynet-zoo")
    return folder


def settings(
    *, cache_dir: str | os.PathLike | None = None, token: str | bool | None = None, local_files_only: bool = False
) -> HubSettings:
    """Hub settings from `zoo.load`'s keywords, the environment (HF_HUB_CACHE, HF_HUB_OFFLINE, HF_TOKEN) the default."""
    return hub_settings(
        cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
        offline=True if local_files_only else None,
        token=token,
    )


def weight_layouts() -> LayoutSet:
    """The weight layouts the loaded plugins register (the zoo's own, timm's, transformers', ...),
    with the parts plugins add to them and the registry's name -> spec."""
    tables = manager().tables()
    return LayoutSet(
        layouts={name: row.record for name, row in tables["layout"].items()},
        parts=tuple(row.record for row in tables["layout_part"].values()),
        spec_for_name=get_spec,
    )


# -- open: fetch what the source needs, read config.json once ------------------------------------------
def fetch(source: Source, hub: HubSettings | None = None) -> tuple[Path | None, Path | None]:
    """(config.json, weights) of a source on disk: fetched into the Hub cache where it lives there."""
    hub = hub or hub_settings()
    if source.kind == "tag":
        assert source.tag is not None
        return None, fetch_tag(source.tag, hub)
    if source.kind == "hub":
        assert source.repo_id is not None
        config = fetch_file(source.repo_id, CONFIG_NAME, revision=source.revision, settings=hub, required=False)
        # Fetch the weights from the commit the config came from, so a push in between cannot mix them.
        pinned = (snapshot_commit(config) if config else None) or source.revision
        return config, fetch_required(source.repo_id, WEIGHTS_NAME, revision=pinned, settings=hub)
    if source.kind in ("folder", "packaged"):
        assert source.path is not None
        folder = source.path
        if not folder.is_dir():
            raise WeightsFormatError(
                f"{folder} is not a folder; local-dir: names a folder written by zoo.save_pretrained"
            )
        if not (folder / WEIGHTS_NAME).is_file():
            raise WeightsFormatError(f"{folder} has no {WEIGHTS_NAME}; write one with zoo.save_pretrained(model, dir)")
        config_path = folder / CONFIG_NAME
        # A config.json that exists but is no regular file (a FIFO, a link) goes to read_json, which refuses it.
        present = config_path.exists() or config_path.is_symlink()
        return (config_path if present else None), folder / WEIGHTS_NAME
    if source.kind == "file":
        return None, source.path
    return None, None


def open(source: Source, hub: HubSettings | None = None) -> Opened:  # noqa: A001 - the pipeline's verb
    """The source's files at hand and its config.json read once: spec, layout, data config, labels."""
    if source.kind == "init":
        return Opened(source, None, source.spec)
    layouts = weight_layouts()
    if source.kind == "tag":
        assert source.tag is not None and source.spec is not None
        layouts.get(source.tag.layout, f"{source.where} pretrained tag {source.tag.tag!r}")  # before any download
    config_path, weights = fetch(source, hub)
    if source.kind == "tag":
        assert source.tag is not None and source.spec is not None
        tag = source.tag
        return Opened(source, weights, source.spec, layouts, tag.layout, tag.data_config(source.spec), tag.sha256)
    if source.kind == "file":
        return Opened(source, weights, source.spec, layouts)
    config = read_json(config_path) if config_path else None
    where = str(config_path) if source.kind != "hub" else source.where
    spec, layout = layouts.spec_from_config(config, where)
    data = data_config_from_json(config, spec, where) if config and spec else None
    if source.kind == "packaged" and source.tag is not None and spec is not None:
        if data is None:
            data = DataConfig.default_for(spec)
        if data.labels is None:  # a packaged tag names its class list when the folder's config does not
            data = replace(data, labels=source.tag.class_names(spec.num_classes))
        if data.background is None:  # and what its inputs looked like
            data = replace(data, background=source.tag.background)
    indices = saved_out_indices(config, where)
    return Opened(source, weights, spec, layouts, layout.name if layout else None, data, out_indices=indices)


# -- build: the one model builder ------------------------------------------------------------------------
def build(opened: Opened, *, seed: int = 0, **overrides: Any) -> AnyNet:
    """The model: the opened weights (converted, adapted to overrides, checked) or a fresh init, with the
    source's data config attached."""
    if opened.weights is None:
        assert opened.spec is not None
        return init_model(opened.spec, model_rngs(seed), **overrides)
    assert opened.layouts is not None
    model = build_pretrained(
        opened.weights,
        layouts=opened.layouts,
        spec=opened.spec,
        layout=opened.layout,
        source_sha256=opened.source_sha256,
        seed=seed,
        where=opened.source.where,
        **overrides,
    )
    return attach(model, opened.data_config)


def init_model(spec: ModelSpec, rngs: nnx.Rngs, **overrides: Any) -> AnyNet:
    """A randomly initialised model of `spec` with fields overridden."""
    return AnyNet(spec.replace(**overrides) if overrides else spec, rngs=rngs, plugins=manager())
