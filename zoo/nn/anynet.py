"""The AnyNet template: stem -> stages of blocks -> head, every part looked up by name.

Besides the forward pass it offers timm's backbone and head API: `forward_features`,
`forward_intermediates` (stem and stage outputs), `feature_info`, `reset_classifier`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jax
from flax import nnx

from zoo.cost import Cost
from zoo.errors import ComponentContractError, InputShapeError, SpecError
from zoo.nn.drop import drop_path_rates, model_rngs
from zoo.nn.layers import global_avg_pool
from zoo.spec import ModelSpec


def _build(record: Any, plugin: str, args: tuple, rngs: nnx.Rngs) -> nnx.Module:
    try:
        module = record.build(*args, rngs=rngs)
    except ComponentContractError:
        raise
    except TypeError as err:
        raise ComponentContractError(
            f"{record.kind} {record.name!r} from plugin {plugin!r} failed to build with arguments {args}: {err}"
        ) from err
    if not isinstance(module, nnx.Module):
        raise ComponentContractError(
            f"{record.kind} {record.name!r} from plugin {plugin!r} must build a flax.nnx.Module, "
            f"got {type(module).__name__}"
        )
    return module


def _call(module: nnx.Module, x: jax.Array) -> jax.Array:
    return module(x)


def run_stage(stage: nnx.Module, x: jax.Array, *, checkpoint: bool) -> jax.Array:
    """`stage(x)`; with `checkpoint`, under nnx.remat, so the backward pass recomputes the stage's
    activations instead of keeping them (BatchNorm statistics and RNG counts still update once)."""
    return nnx.remat(_call)(stage, x) if checkpoint else stage(x)


class Stage(nnx.Module):
    """`depth` blocks; the first changes width and carries the stride."""

    def __init__(self, blocks: list[nnx.Module]):
        self.blocks = nnx.List(blocks)

    def __call__(self, x: jax.Array) -> jax.Array:
        for block in self.blocks:
            x = block(x)
        return x


def check_input(x: Any, channels: int) -> None:
    """InputShapeError unless `x` is an NHWC batch of `channels` channels (shapes are static, so
    this costs nothing under jit); NCHW input is named as such, with the transpose that fixes it."""
    shape = tuple(getattr(x, "shape", ()))
    expected = f"(N, H, W, {channels})"
    if len(shape) != 4:
        raise InputShapeError(
            f"the model takes an NHWC batch shaped {expected}, got an array of shape {shape}; "
            + ("add a batch axis: x[None]" if len(shape) == 3 else "give N images of H x W pixels and C channels")
        )
    if shape[-1] == channels:
        return
    hint = (
        "this looks like NCHW: transpose it with x.transpose(0, 2, 3, 1)"
        if shape[1] == channels
        else f"convert the images to {channels} channel(s), or load the model with in_channels={shape[-1]}"
    )
    raise InputShapeError(
        f"the model takes NHWC input with {channels} channel(s), shaped {expected}, got {shape}; {hint}"
    )


@dataclass(frozen=True)
class FeatureInfo:
    """One feature map a backbone offers: its index, module, channels and reduction (input / map side)."""

    index: int
    module: str
    channels: int
    reduction: int


def feature_info_for(spec: ModelSpec, stem: Any, options: dict) -> tuple[FeatureInfo, ...]:
    """Stem and stage outputs of `spec`; the stem's reduction is read from its own cost function."""
    size = spec.input_size
    after_stem = stem.complexity(Cost(size, size), spec.in_channels, spec.stem_width, options)
    reduction = max(1, round(size / after_stem.h))
    infos = [FeatureInfo(0, "stem", spec.stem_width, reduction)]
    for i, stage in enumerate(spec.stages):
        reduction *= stage.stride
        infos.append(FeatureInfo(i + 1, f"stages.{i}", stage.width, reduction))
    return tuple(infos)


def take_indices(count: int, indices: int | Sequence[int] | None) -> list[int]:
    """timm's rule: None -> all, an int n -> the last n, a sequence -> those (negatives count from the end)."""
    if indices is None:
        return list(range(count))
    if isinstance(indices, int):
        if not 0 < indices <= count:
            raise SpecError(f"indices={indices} asks for the last {indices} of {count} feature maps; use 1..{count}")
        return list(range(count - indices, count))
    taken = []
    for i in indices:
        if not isinstance(i, int) or not -count <= i < count:
            raise SpecError(
                f"feature index {i!r} is out of range: this model has {count} feature maps "
                f"(0 = stem, 1..{count - 1} = stages; negatives count from the end)"
            )
        taken.append(i % count)
    if not taken:
        raise SpecError("indices is empty; give at least one feature index")
    return taken


class PooledFeatures(nnx.Module):
    """The head of a model without a classifier (num_classes=0): global average pooled features."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return global_avg_pool(x)


def _build_head(plugins: Any, spec: ModelSpec, width: int, options: dict, rngs: nnx.Rngs) -> nnx.Module:
    if spec.num_classes == 0:
        return PooledFeatures()
    record = plugins.get("head", spec.head)
    return _build(record, plugins.provider("head", spec.head), (width, spec.num_classes, options), rngs)


@dataclass(frozen=True)
class _HeadSource:
    """The head record a model was built with, so reset_classifier needs no plugin manager."""

    record: Any
    plugin: str

    def get(self, kind: str, name: str) -> Any:
        return self.record

    def provider(self, kind: str, name: str) -> str:
        return self.plugin


class AnyNet(nnx.Module):
    """A network built from a ModelSpec; components come from `plugins` (zoo.plugins.manager(),
    or anything with get(kind, name) and provider(kind, name)): zoo.create supplies it."""

    def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs, plugins: Any):
        self.spec = spec
        options = dict(spec.options)
        stem = plugins.get("stem", spec.stem)
        block = plugins.get("block", spec.block)
        self.stem = _build(
            stem, plugins.provider("stem", spec.stem), (spec.in_channels, spec.stem_width, options), rngs
        )
        stages = []
        width = spec.stem_width
        block_plugin = plugins.provider("block", spec.block)
        rates = drop_path_rates(spec.depths, float(options.get("drop_path_rate", 0.0)))
        for stage, stage_rates in zip(spec.stages, rates):
            blocks = []
            for i in range(stage.depth):
                args = (
                    width,
                    stage.width,
                    stage.stride if i == 0 else 1,
                    stage.group_width,
                    stage.bottleneck_ratio,
                    # each block reads its own share of stochastic depth as its options' drop_path_rate
                    {**options, "drop_path_rate": stage_rates[i]} if "drop_path_rate" in options else options,
                )
                blocks.append(_build(block, block_plugin, args, rngs))
                width = stage.width
            stages.append(Stage(blocks))
        self.stages = nnx.List(stages)
        self.head = _build_head(plugins, spec, width, options, rngs)
        self._head_source = _HeadSource(plugins.get("head", spec.head), plugins.provider("head", spec.head))
        self.feature_info = feature_info_for(spec, stem, options)
        self.data_config = None  # what inputs it expects (zoo.data_config): set by zoo.load from config or tag
        self.grad_checkpointing = False

    @property
    def pretrained_cfg(self) -> Any:
        """timm's name for the data config the model carries (read-only; None for a model built without
        weights: zoo.data_config(model) gives the spec's defaults then)."""
        return self.data_config

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each stage's activations in the backward pass instead of keeping them (jax.checkpoint,
        as timm's set_grad_checkpointing): the forward pass keeps only each stage's input for the backward,
        for one more forward; the gradients are the same."""
        self.grad_checkpointing = bool(enable)

    @property
    def num_features(self) -> int:
        """Channels of the last stage: what the head pools and classifies."""
        return self.spec.stages[-1].width

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def get_classifier(self) -> nnx.Module | None:
        """The classifier head, or None once reset_classifier(0) removed it."""
        return None if isinstance(self.head, PooledFeatures) else self.head

    def reset_classifier(self, num_classes: int, *, seed: int = 0, plugins: Any = None) -> None:
        """A fresh head for `num_classes` (0: none, the model returns pooled features); the spec follows."""
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
            raise SpecError(f"reset_classifier: num_classes must be an integer >= 0, got {num_classes!r}")
        spec = self.spec.replace(num_classes=num_classes)
        self.head = _build_head(
            plugins or self._head_source, spec, self.num_features, dict(spec.options), model_rngs(seed)
        )
        self.spec = spec
        if self.data_config is not None:
            self.data_config = self.data_config.without_labels()

    def named_layers(self) -> Iterator[tuple[str, nnx.Module]]:
        """The top-level layers in order: stem, stages.0 ... stages.N, head."""
        yield "stem", self.stem
        for i, stage in enumerate(self.stages):
            yield f"stages.{i}", stage
        yield "head", self.head

    def forward_features(self, x: jax.Array) -> jax.Array:
        """The last stage's feature map (NHWC), before the head."""
        check_input(x, self.spec.in_channels)
        x = self.stem(x)
        for stage in self.stages:
            x = run_stage(stage, x, checkpoint=self.grad_checkpointing)
        return x

    features = forward_features  # the name earlier releases used

    def forward_head(self, x: jax.Array, *, pre_logits: bool = False) -> jax.Array:
        """The head on a feature map; pre_logits=True stops at the pooled features."""
        return global_avg_pool(x) if pre_logits else self.head(x)

    def forward_intermediates(
        self,
        x: jax.Array,
        indices: int | Sequence[int] | None = None,
        *,
        stop_early: bool = False,
        intermediates_only: bool = False,
    ) -> list[jax.Array] | tuple[jax.Array, list[jax.Array]]:
        """Stem and stage outputs (timm's semantics): index 0 is the stem, i the i-th stage;
        an int n takes the last n. Returns (final feature map, intermediates) unless intermediates_only."""
        taken = take_indices(len(self.feature_info), indices)
        wanted = set(taken)
        last = max(taken) if (stop_early or intermediates_only) else len(self.stages)
        outputs = {}
        check_input(x, self.spec.in_channels)
        x = self.stem(x)
        if 0 in wanted:
            outputs[0] = x
        for i, stage in enumerate(self.stages, start=1):
            if i > last:
                break
            x = run_stage(stage, x, checkpoint=self.grad_checkpointing)
            if i in wanted:
                outputs[i] = x
        intermediates = [outputs[i] for i in taken]
        return intermediates if intermediates_only else (x, intermediates)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.forward_features(x))
