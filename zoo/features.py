"""Backbones: a model without its head that returns the feature maps it was asked for.

`zoo.create(name, features_only=True, out_indices=(...))` gives one (timm's features_only,
transformers' AutoBackbone). It holds the model's own stem and stages, so its state keys
are the full model's minus `head.*` and pretrained weights load into it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from flax import nnx

from zoo.nn.anynet import AnyNet, FeatureInfo, check_input, run_stage, take_indices
from zoo.spec import ModelSpec


class FeatureBackbone(nnx.Module):
    """The stem and stages of an AnyNet; calling it returns the list of selected feature maps (NHWC)."""

    def __init__(self, model: AnyNet, out_indices: int | Sequence[int] | None = None):
        taken = take_indices(len(model.feature_info), out_indices)
        self.spec = model.spec
        self.stem = model.stem
        # Stages past the last output are dropped; one is kept even for a stem-only backbone, so that what
        # it holds is a model spec save_pretrained can write (it is never run).
        self.stages = nnx.List(list(model.stages)[: max(1, max(taken))])
        self.out_indices = tuple(taken)
        self.feature_info: tuple[FeatureInfo, ...] = tuple(model.feature_info[i] for i in taken)
        self.data_config = model.data_config
        self.grad_checkpointing = model.grad_checkpointing

    @property
    def pretrained_cfg(self) -> Any:
        """timm's name for the data config the backbone carries (read-only)."""
        return self.data_config

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each stage's activations in the backward pass (as AnyNet.set_grad_checkpointing)."""
        self.grad_checkpointing = bool(enable)

    def saved_form(self) -> tuple[ModelSpec, dict[str, Any]]:
        """What save_pretrained writes for a backbone: the spec of the layers it holds (the kept
        stages, no classifier) and a `features_only` entry that makes zoo.load return a backbone again."""
        spec = self.spec.replace(stages=tuple(self.spec.stages[: len(self.stages)]), num_classes=0)
        return spec, {"features_only": {"out_indices": list(self.out_indices)}}

    @property
    def channels(self) -> list[int]:
        return [info.channels for info in self.feature_info]

    @property
    def reductions(self) -> list[int]:
        return [info.reduction for info in self.feature_info]

    def __call__(self, x: jax.Array) -> list[jax.Array]:
        check_input(x, self.spec.in_channels)
        outputs = {}
        x = self.stem(x)
        outputs[0] = x
        for i, stage in enumerate(self.stages, start=1):
            if i > max(self.out_indices):
                break
            x = run_stage(stage, x, checkpoint=self.grad_checkpointing)
            outputs[i] = x
        return [outputs[i] for i in self.out_indices]


def as_backbone(model: AnyNet, out_indices: int | Sequence[int] | None = None) -> FeatureBackbone:
    """`model` as a features-only backbone (its head dropped); out_indices as timm counts them (0 = stem)."""
    return FeatureBackbone(model, out_indices)
