"""Pretrained models from files: save a folder, load a folder or a weights file in any known layout.

`build_pretrained` is the one path every pretrained load takes (zoo.loading.build: local folder,
file, Hub repo, registry tag): sniff the layout, convert (cached) when it is foreign, adapt the head
and stem to overrides, check every key and shape, and fill a freshly built model.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from flax import nnx

from zoo.errors import WeightsFormatError, WriteError
from zoo.nn.anynet import AnyNet
from zoo.nn.drop import dropout_key, model_rngs
from zoo.plugins import manager
from zoo.plugins.layout_records import WeightLayout
from zoo.spec import ModelSpec
from zoo.weights.adapt import adapt_arrays
from zoo.weights.checks import check_fits
from zoo.weights.config import CONFIG_NAME, DataConfig, make_config, write_config
from zoo.weights.layouts import LayoutSet, converted_path, file_sha256
from zoo.weights.state_file import (
    WEIGHTS_NAME,
    apply_arrays,
    read_arrays,
    read_header,
    save_arrays,
    save_weights,
    spec_from_metadata,
    spec_metadata,
)


def save_pretrained(
    model: AnyNet,
    directory: str | os.PathLike,
    *,
    preprocessing: DataConfig | None = None,
    labels: Sequence[str] | None = None,
    architecture: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write model.safetensors and config.json into `directory` (each atomically); returns the folder.
    `extra` adds top-level entries to config.json (`zoo train` records there how the weights were chosen)."""
    directory = Path(directory)
    saved_form = getattr(model, "saved_form", None)  # a features_only backbone says what to write
    spec, form_extra = saved_form() if callable(saved_form) else (model.spec, {})
    config = make_config(spec, preprocessing=preprocessing, labels=labels, architecture=architecture)
    config = replace(config, extra={**config.extra, **(extra or {}), **form_extra})
    try:
        save_weights(model, directory / WEIGHTS_NAME, metadata=spec_metadata(spec))
        write_config(config, directory / CONFIG_NAME)
    except OSError as err:
        raise WriteError(
            f"cannot save the model to {directory}: {err.strerror or err} ({err.filename or directory}); "
            "choose a writable folder with space left and a shorter name. Any earlier files there are intact"
        ) from None
    return directory


def _hub_blob_sha256(path: Path) -> str | None:
    """The sha256 a Hub cache blob is named by (LFS files are stored under their sha256), if it is one."""
    blob = path.resolve()
    name = blob.name
    if blob != path and blob.parent.name == "blobs" and len(name) == 64 and all(c in "0123456789abcdef" for c in name):
        return name
    return None


def _converted_arrays(
    path: Path, layouts: LayoutSet, layout: WeightLayout, spec: ModelSpec | None, source_sha256: str | None, where: str
) -> dict[str, np.ndarray]:
    sha = source_sha256 or _hub_blob_sha256(path) or file_sha256(path)
    cached = converted_path(layout.name, sha)
    if cached.is_file():
        try:
            return read_arrays(cached)[0]
        except WeightsFormatError:
            cached.unlink(missing_ok=True)  # a damaged cache entry is rebuilt, never used
    arrays = layouts.to_zoo(read_arrays(path)[0], layout)
    metadata = {**(spec_metadata(spec) if spec else {}), "converted_from": layout.name, "source_sha256": sha}
    try:
        save_arrays(arrays, cached, metadata=metadata)
    except OSError as err:
        warnings.warn(f"could not cache the converted weights of {where} at {cached}: {err}", stacklevel=2)
    return arrays


def build_pretrained(
    weights: str | os.PathLike,
    *,
    layouts: LayoutSet,
    spec: ModelSpec | None = None,
    layout: str | None = None,
    config: Mapping[str, Any] | None = None,
    source_sha256: str | None = None,
    seed: int = 0,
    where: str | None = None,
    **overrides: Any,
) -> AnyNet:
    """A model filled with the weights in `weights` (any layout in `layouts`); overrides change spec fields.

    The layout is `layout` (a name) when given, else the one `config` announces, else the one the
    tensor names match. The spec comes from `spec`, else from the file's metadata. A changed num_classes gets a
    fresh head, a changed in_channels an adapted stem; anything else must match exactly.
    """
    path = Path(weights)
    where = where or str(path)
    header, metadata = read_header(path)
    if layout is not None:
        found = layouts.get(layout, where)
    else:
        found = layouts.from_config(config, where) or layouts.from_keys(set(header), where)
    if found.to_zoo is None:
        arrays, metadata = read_arrays(path)
    else:
        arrays = _converted_arrays(path, layouts, found, spec, source_sha256, where)
    source = spec or spec_from_metadata(metadata, where)
    if source is None:
        raise WeightsFormatError(
            f"{where} does not say which architecture it holds (no anynet-zoo metadata); load it by name "
            "(zoo.load(NAME, checkpoint_path=PATH)) or from a folder with its config.json"
        )
    target = source.replace(**overrides) if overrides else source  # overrides are bounded like any spec
    abstract = check_fits(arrays, source, where)  # keys, shapes, dtypes, finite values: before any build
    if target.num_classes != source.num_classes or target.in_channels != source.in_channels:
        model = AnyNet(target, rngs=model_rngs(seed), plugins=manager())  # the new head needs real initial values
        arrays = adapt_arrays(
            arrays,
            model,
            where=where,
            reinit_head=target.num_classes != source.num_classes,
            adapt_stem=target.in_channels != source.in_channels,
        )
    else:
        # Every value comes from the file: build the model abstractly, skipping random init (8x faster).
        model = (
            abstract
            if target == source
            else nnx.eval_shape(lambda: AnyNet(target, rngs=model_rngs(seed), plugins=manager()))
        )
        # A file holds no RNG state: the abstract build's dropout streams (drop_rate, drop_path_rate) get real keys.
        nnx.reseed(model, dropout=dropout_key(seed))
    return apply_arrays(model, arrays, where=where)
