"""What a run is made of besides the loop: its model, its data, its files, and the resume rule."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data import ImageSplit, Pipeline, normalization_for, open_split, steps_per_epoch
from zoo.data.arrays import ARRAYS, array_splits
from zoo.data.mixing import Mixing
from zoo.data.randaugment import RandAugment
from zoo.data.transforms import Normalization, check_channels
from zoo.errors import CheckpointError, TrainConfigError
from zoo.nn.precision import set_compute_dtype
from zoo.train.config import TrainConfig

# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"data_dir", "checkpoint_every", "keep_checkpoints", "eval_batch_size", "tensorboard"}


@dataclass
class RunData:
    """A run's model (built, with its data config attached) and its data: splits, pipelines, steps."""

    model: Any
    config: TrainConfig
    train: ImageSplit
    test: ImageSplit
    train_pipe: Pipeline
    eval_pipe: Pipeline
    steps_per_epoch: int
    class_names: tuple[str, ...] | None = field(default=None)
    background: str | None = None


def open_run(
    model,
    config: TrainConfig,
    *,
    data=None,
    test_data=None,
    class_names=None,
    num_classes=None,
    pretrained: bool | str = False,
) -> RunData:
    """Open the data, build the model for it (head sized to the classes, compute dtype set) and record on
    the model the data config it is trained with, so predicting with it preprocesses as training did."""
    config, train, test = open_data(config, data, test_data, class_names)
    classes = num_classes or train.num_classes
    if classes < train.num_classes:
        raise TrainConfigError(
            f"num_classes={classes} is smaller than the {train.num_classes} classes of "
            f"{config.dataset!r}; leave it out to use the dataset's count"
        )
    model = build_model(
        model, num_classes=classes, image_size=config.image_size, pretrained=pretrained, seed=config.seed
    )
    if config.dtype is not None:
        set_compute_dtype(model, config.dtype)
    spec = model.spec
    check_channels(train.image_shape[-1], spec.in_channels, config.dataset)
    size = config.image_size or spec.input_size
    norm = normalization_for(train, spec.in_channels)
    train_pipe = train_pipeline(config, size, spec.in_channels, norm, train.flip_safe, spec.num_classes)
    eval_pipe = Pipeline(size, spec.in_channels, norm)
    names = tuple(train.class_names) if train.class_names is not None else None
    background = dominant_background(train)
    attach_data_config(model, eval_pipe, names, background)
    per_epoch = steps_per_epoch(len(train), config.batch_size, train=True)
    return RunData(model, config, train, test, train_pipe, eval_pipe, per_epoch, names, background)


def dominant_background(split: ImageSplit, count: int = 256, agreement: float = 0.9) -> str | None:
    """'dark' or 'light' where at least `agreement` of `count` evenly spaced training images share it
    (Fashion-MNIST: dark), else None: what zoo.predict warns against, learned from the data itself."""
    from zoo.predict import background_of

    if len(split) == 0:
        return None
    indices = np.unique(np.linspace(0, len(split) - 1, min(count, len(split))).astype(int))
    images, _ = split.read(indices)
    kinds = [background_of(image.astype(np.float32) / 255.0) for image in images]
    for kind in ("dark", "light"):
        if kinds.count(kind) >= agreement * len(kinds):
            return kind
    return None


def train_pipeline(
    config: TrainConfig, size: int, channels: int, norm: Normalization, flip: bool, num_classes: int
) -> Pipeline:
    """How a run's training images are made (`fit` and a sweep's trials alike): resized, normalised,
    augmented as the config says (RandAugment; crop and, where the labels survive it, flips) and mixed."""
    mixing = None
    if config.mixes:
        mixing = Mixing(num_classes, config.mixup_alpha, config.cutmix_alpha, config.mixup_switch_prob,
                        config.label_smoothing)  # fmt: skip
    randaugment = RandAugment(config.randaugment_ops, config.randaugment_magnitude) if config.randaugment_ops else None
    return Pipeline(size, channels, norm, augment=config.augment, flip=flip, mixing=mixing, randaugment=randaugment)


def preprocessing_of(pipeline: Pipeline, background: str | None = None):
    """The saved form (config.json's `preprocessing`) of an eval pipeline."""
    from zoo.weights.config import DataConfig

    order = "L" if pipeline.channels == 1 else "RGB" if pipeline.channels == 3 else "C" * pipeline.channels
    norm = pipeline.normalization
    return DataConfig(
        pipeline.image_size, tuple(norm.mean), tuple(norm.std), "bilinear", 1.0, order, background=background
    )


def attach_data_config(model, pipeline: Pipeline, labels, background: str | None = None) -> None:
    """Give `model` the data config of `pipeline`, the class names (where there is one per class) and
    the training images' background."""
    from dataclasses import replace

    from zoo.data_config import attach

    config = preprocessing_of(pipeline, background)
    attach(model, replace(config, labels=tuple(labels) if labels is not None else None))


def build_model(model, *, num_classes: int, image_size: int | None, pretrained: bool | str, seed: int):
    """A model ready to train: a built AnyNet as given, else zoo.load with the head and size set."""
    from zoo.nn.anynet import AnyNet

    if isinstance(model, AnyNet):
        if model.spec.num_classes < num_classes:
            raise TrainConfigError(
                f"the model predicts {model.spec.num_classes} classes but the dataset has "
                f"{num_classes}; build it with num_classes={num_classes}"
            )
        return model
    import zoo

    overrides: dict[str, Any] = {"num_classes": num_classes}
    if image_size:
        overrides["input_size"] = image_size
    return zoo.load(model, pretrained=pretrained, seed=seed, **overrides)


def open_data(config: TrainConfig, data, test_data, class_names) -> tuple[TrainConfig, ImageSplit, ImageSplit]:
    """The run's train and test splits: in-memory arrays when given, else the config's dataset."""
    if data is not None:
        train, test = array_splits(data, test_data, class_names)
        return config.replace(dataset=ARRAYS), train, test
    if test_data is not None or class_names is not None:
        raise TrainConfigError("test_data= and class_names= go with data=(images, labels); pass that too")
    return (
        config,
        open_split(config.dataset, config.train_split, data_dir=config.data_dir),
        open_split(config.dataset, config.test_split, data_dir=config.data_dir),
    )


def save_weights(
    model,
    out_dir: Path,
    pipeline: Pipeline,
    labels,
    training: dict[str, Any] | None = None,
    background: str | None = None,
) -> None:
    """model.safetensors + config.json with the preprocessing and, where they fit, the class names (and
    `training`: which weights were saved, when there was a choice)."""
    try:
        from zoo.weights.pretrained import save_pretrained
    except ImportError:  # the weights module is optional for training
        print(
            "zoo: note: zoo.save_pretrained is unavailable; final weights are only in the checkpoints", file=sys.stderr
        )
        return
    if labels is not None and len(labels) != model.spec.num_classes:
        labels = None
    extra = {"training": training} if training else None
    preprocessing = preprocessing_of(pipeline, background)
    save_pretrained(model, out_dir, preprocessing=preprocessing, labels=labels, extra=extra)


def check_same_run(meta: dict[str, Any], config: TrainConfig, where: Path) -> None:
    """Resuming needs the same settings; `epochs` alone may change where no learning rate depends on it.

    A cosine schedule (and a step schedule with default boundaries) is defined by the total, so a
    longer run would have had other learning rates from its first step: extending it is refused.
    """
    defaults = TrainConfig().to_dict()
    saved = {**defaults, **meta.get("config", {})}
    now = config.to_dict()
    changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    done = meta.get("position", {}).get("epoch", 0)
    if changed == ["epochs"]:
        old = TrainConfig.from_dict(saved)
        if not old.total_independent_schedule:
            raise CheckpointError(
                f"the run in {where} used schedule={old.schedule}, whose learning rates depend on the total "
                f"of {old.epochs} epochs, so it cannot be extended to {config.epochs} (the longer run would have "
                f"had other rates from the start); start a new run from its weights in {where.parent} with another "
                "out_dir=, or use schedule=constant / step with step_epochs="
            )
        if config.epochs < done:
            raise CheckpointError(f"the run in {where} has already trained {done} epochs; epochs= must be >= {done}")
        return
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
        ema = ""
        if "ema_decay" in changed:
            kept = saved.get("ema_decay") or 0
            ema = (
                f"; its checkpoints hold an EMA of the weights: pass --ema {kept} (ema_decay={kept}) to keep it"
                if kept
                else "; it kept no EMA, so one cannot start mid-run: drop --ema to resume it"
            )
        raise CheckpointError(
            f"the checkpoints in {where} belong to a run with other settings ({diffs}){ema}; "
            "resume with the same settings, or use a new out_dir="
        )
