"""Pretrained tags as data: `[models.NAME.pretrained.TAG]` tables in a registry file.

A tag names a Hub repo, a pinned revision, a file, its sha256 where known, the weight layout
the file is in (a layout registered through the zoo_add_weight_layouts hook: zoo, timm,
transformers or a plugin's) and the facts users read (preprocessing, metrics, license).
`{namespace}` in a hub_id is the project's Hub namespace, overridable by ZOO_HUB_NAMESPACE
for forks and private mirrors. A `packaged` tag names a folder the package itself ships
(zoo/shipped/NAME), which loads with no network; `labels` names a class-name list it ships.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import PretrainedError, RegistryError, did_you_mean
from zoo.spec import ModelSpec
from zoo.weights.config import DataConfig, label_set

DEFAULT_NAMESPACE = "anynet-zoo"
NAMESPACE_ENV = "ZOO_HUB_NAMESPACE"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
TAG_FIELDS = {
    "hub_id",
    "revision",
    "filename",
    "sha256",
    "layout",
    "default",
    "mean",
    "std",
    "interpolation",
    "crop_pct",
    "metrics",
    "description",
    "license",
    "packaged",
    "labels",
    "trained_on",
    "background",
}
BACKGROUNDS = ("dark", "light")


def hub_namespace() -> str:
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


@dataclass(frozen=True)
class PretrainedTag:
    """One set of published weights for a named model."""

    model: str
    tag: str
    hub_id: str = ""
    revision: str = "main"
    filename: str = "model.safetensors"
    sha256: str | None = None
    layout: str = "zoo"
    default: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None
    crop_pct: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    license: str | None = None
    packaged: str | None = None
    labels: str | None = None
    trained_on: str = ""  # what the weights saw: dataset, image size, channels, value range, polarity
    background: str | None = None  # 'dark' or 'light': the trained images' background, checked by predict

    @property
    def name(self) -> str:
        return f"{self.model}.{self.tag}"

    @property
    def repo_id(self) -> str:
        return self.hub_id.replace("{namespace}", hub_namespace())

    def data_config(self, spec: ModelSpec) -> DataConfig:
        """How inputs to these weights must look, and their class names: the tag's mean, std,
        interpolation, crop_pct and labels, each falling back to the zoo's default for `spec` where
        the tag leaves it out (timm-style '*in1k' tags of 1000 classes name ImageNet's classes)."""
        default = DataConfig.default_for(spec)
        return DataConfig(
            input_size=spec.input_size,
            mean=self.mean if self.mean is not None else default.mean,
            std=self.std if self.std is not None else default.std,
            interpolation=self.interpolation or default.interpolation,
            crop_pct=self.crop_pct if self.crop_pct is not None else default.crop_pct,
            channel_order=default.channel_order,
            labels=self.class_names(spec.num_classes),
            background=self.background,
        )

    def class_names(self, num_classes: int) -> tuple[str, ...] | None:
        """The tag's `labels` set, else ImageNet-1k for timm-style '*in1k' tags of 1000 classes."""
        if self.labels:
            return label_set(self.labels)
        if self.tag.endswith("in1k") and num_classes == 1000:
            return label_set("imagenet-1k")
        return None


def parse_tags(model: str, table: Any, where: str) -> dict[str, PretrainedTag]:
    """The tags of one registry entry's `pretrained` table, checked."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise RegistryError(f"{where} field 'pretrained' must be a table of tags ([models.{model}.pretrained.TAG])")
    tags = {}
    for tag, fields in table.items():
        at = f"{where} [models.{model}.pretrained.{tag}]"
        if not isinstance(fields, Mapping):
            raise RegistryError(f"{at} must be a table")
        unknown = sorted(set(fields) - TAG_FIELDS)
        if unknown:
            raise RegistryError(f"{at}: unknown field(s) {unknown}; known fields are {sorted(TAG_FIELDS)}")
        packaged = fields.get("packaged")
        if packaged is not None and not (isinstance(packaged, str) and re.fullmatch(r"[\w.-]+", packaged)):
            raise RegistryError(f"{at}: 'packaged' must name a folder under zoo/shipped (letters, digits, . _ -)")
        if packaged is None and (not isinstance(fields.get("hub_id"), str) or "/" not in fields["hub_id"]):
            raise RegistryError(f"{at}: 'hub_id' must be a Hub repo id 'org/name' (or give 'packaged')")
        if not isinstance(fields.get("layout", "zoo"), str) or not fields.get("layout", "zoo"):
            raise RegistryError(f"{at}: 'layout' must name a weight layout (zoo, timm, transformers or a plugin's)")
        sha = fields.get("sha256")
        if sha is not None and not (isinstance(sha, str) and SHA256.match(sha)):
            raise RegistryError(f"{at}: 'sha256' must be 64 lowercase hex digits")
        if fields.get("background") not in (None, *BACKGROUNDS):
            raise RegistryError(f"{at}: 'background' must be one of {list(BACKGROUNDS)}")
        data = dict(fields)
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(float(x) for x in data[key])
        tags[tag] = PretrainedTag(model=model, tag=tag, **data)
    defaults = [t for t in tags.values() if t.default]
    if len(defaults) > 1:
        raise RegistryError(
            f"{where}: model {model!r} marks several default tags {[t.tag for t in defaults]}; keep one"
        )
    return tags


def pick_tag(model: str, tags: Mapping[str, PretrainedTag], tag: str | None) -> PretrainedTag:
    """The tag asked for, or the default one (marked default, else the only one)."""
    if not tags:
        raise PretrainedError(
            f"no pretrained weights are published for {model!r}; `zoo list --pretrained` shows the models that "
            "have some, or pass checkpoint_path='path/to/model.safetensors'"
        )
    if tag is None:
        marked = [t for t in tags.values() if t.default]
        if marked:
            return marked[0]
        if len(tags) == 1:
            return next(iter(tags.values()))
        raise PretrainedError(
            f"model {model!r} has several pretrained tags {sorted(tags)} and no default; pick one "
            f"with pretrained='TAG' or the name '{model}.TAG'"
        )
    if tag not in tags:
        raise PretrainedError(
            f"model {model!r} has no pretrained tag {tag!r}.{did_you_mean(tag, tags)} Its tags: {sorted(tags)}"
        )
    return tags[tag]
