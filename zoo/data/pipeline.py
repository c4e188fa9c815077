"""Fixed-size, seeded, resumable batches from an ImageSplit.

Batch `b` of epoch `e` depends only on (seed, e, b): the shuffle order is drawn from
(seed, e) and the augmentation and mixing from (seed, e, b). So a run resumed at any batch sees
exactly the batches an uninterrupted run would, and each process of a multi-host run reads only
its own slice of the same global batch (and, when batches are mixed, its images' partners).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from zoo.data.mixing import Mixing
from zoo.data.prefetch import Prefetch
from zoo.data.randaugment import RandAugment, RandDraw
from zoo.data.sources import ImageSplit
from zoo.data.transforms import Augmentation, Normalization, match_channels, mirror, random_crop, resize
from zoo.errors import TrainConfigError


@dataclass(frozen=True)
class Batch:
    """float32 NHWC images, int32 labels, and float32 weights (0 marks padding in eval batches); a mixed
    training batch also has soft targets (N, classes)."""

    images: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    targets: np.ndarray | None = None

    @property
    def target(self) -> np.ndarray:
        """What the loss compares the logits with: the soft targets of a mixed batch, else the labels."""
        return self.labels if self.targets is None else self.targets


@dataclass(frozen=True)
class Pipeline:
    """How a split becomes model inputs: size, channels, normalisation and augmentation."""

    image_size: int
    channels: int
    normalization: Normalization
    augment: bool = False
    flip: bool = False
    mixing: Mixing | None = None  # mixup / cutmix of training batches
    randaugment: RandAugment | None = None  # RandAugment of training images (before normalising)

    @property
    def crop_pad(self) -> int:
        """Padding for the random crop: 1/8 of the side (4 px at 32x32), as on CIFAR."""
        return max(1, self.image_size // 8)

    def draw(self, rng: np.random.Generator, n: int) -> Augmentation | None:
        """A batch's augmentation: crop offsets and flips, then (drawn after them, so they are the same
        with it or without) each image's RandAugment operations."""
        if not self.augment and self.randaugment is None:
            return None
        augmentation = Augmentation.draw(rng, n, self.crop_pad, self.flip and self.augment)
        if self.randaugment is not None:
            augmentation = replace(augmentation, ops=self.randaugment.draw(rng, n))
        return augmentation

    def transform(self, images: np.ndarray, augmentation: Augmentation | None = None) -> np.ndarray:
        if augmentation is not None and augmentation.ops is not None:
            x = self._rand_augmented(images, augmentation.ops)
        else:
            x = self.normalization.apply(match_channels(images, self.channels))
            x = resize(x, self.image_size)
        if augmentation is not None and self.augment:
            x = random_crop(x, self.crop_pad, augmentation.dy, augmentation.dx)
            if augmentation.flip.any():
                x = mirror(x, augmentation.flip)
        return np.ascontiguousarray(x, dtype=np.float32)

    def _rand_augmented(self, images: np.ndarray, ops: RandDraw) -> np.ndarray:
        """Resized, RandAugment-ed in pixel values (filling with the mean, zero once normalised), normalised."""
        assert self.randaugment is not None
        x = resize(match_channels(images, self.channels).astype(np.float32), self.image_size)
        fill = np.asarray(self.normalization.mean, np.float32) * 255.0
        return self.normalization.apply(self.randaugment.apply(x, ops, fill))


def normalization_for(split: ImageSplit, channels: int, limit: int = 10000) -> Normalization:
    """Mean/std from the first `limit` images of a (training) split, in its stored order."""
    images, _ = split.read(range(min(limit, len(split))))
    return Normalization.from_images(match_channels(images, channels))


def steps_per_epoch(num_examples: int, batch_size: int, *, train: bool) -> int:
    """Training drops the remainder (reshuffled each epoch); evaluation pads it."""
    if train:
        if num_examples < batch_size:
            raise TrainConfigError(
                f"batch size {batch_size} is larger than the {num_examples} training examples; "
                f"use batch_size={max(1, num_examples // 2)} or smaller"
            )
        return num_examples // batch_size
    return -(-num_examples // batch_size)


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def iterate_batches(
    split: ImageSplit,
    pipeline: Pipeline,
    batch_size: int,
    *,
    train: bool,
    seed: int = 0,
    epoch: int = 0,
    start: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    prefetch: int = 2,
) -> Iterator[Batch]:
    """This process's slice of each global batch of one epoch, from batch `start` on."""
    if batch_size % process_count:
        raise TrainConfigError(f"batch size {batch_size} does not split over {process_count} processes")
    n = len(split)
    order = epoch_order(n, seed, epoch) if train else np.arange(n)
    num = steps_per_epoch(n, batch_size, train=train)
    local = batch_size // process_count
    lo, hi = process_index * local, (process_index + 1) * local
    mixing = pipeline.mixing if train else None

    def produce() -> Iterator[Batch]:
        for b in range(start, num):
            idx = order[b * batch_size : (b + 1) * batch_size]
            weights = np.ones(batch_size, np.float32)
            if len(idx) < batch_size:
                weights[len(idx) :] = 0.0
                idx = np.concatenate([idx, np.zeros(batch_size - len(idx), idx.dtype)])
            # Drawn for the whole global batch, then sliced: the same batch for any process count.
            augmentation = pipeline.draw(np.random.default_rng([seed, epoch, b, 1]), batch_size) if train else None
            x, labels = _load(split, pipeline, idx, augmentation, slice(lo, hi))
            if mixing is None:
                yield Batch(x, labels, weights[lo:hi])
                continue
            # Image i is mixed with image B-1-i: this slice's partners are the mirrored slice, reversed.
            mirrored = slice(batch_size - hi, batch_size - lo)
            partners = (x, labels) if mirrored == slice(lo, hi) else _load(split, pipeline, idx, augmentation, mirrored)
            mix = mixing.draw(np.random.default_rng([seed, epoch, b, 2]), *x.shape[1:3])
            images, targets = mixing.apply(mix, x, labels, partners[0][::-1], partners[1][::-1])
            yield Batch(images, labels, weights[lo:hi], targets)

    return Prefetch(produce(), prefetch) if prefetch else produce()


def _load(split: ImageSplit, pipeline: Pipeline, idx: np.ndarray, augmentation: Augmentation | None, part: slice):
    """(transformed images, labels) of the part [start, stop) of a global batch."""
    images, labels = split.read(idx[part])
    return pipeline.transform(images, augmentation[part] if augmentation else None), labels
