"""Mixup and CutMix of a whole batch with soft targets, as timm's `Mixup` does them (batch mode), in NumPy.

Image i of a global batch is mixed with image B-1-i (the batch reversed) by one lambda per batch drawn
from Beta(alpha, alpha): mixup blends the whole images; cutmix pastes a box of side sqrt(1 - lambda)
centred anywhere, and lambda becomes the share of the image the box leaves (the box is clipped at the
border). With both on, each batch is cutmix with probability `switch_prob`, else mixup. The targets are
the same blend of the two images' one-hot labels, each smoothed first (timm's `mixup_target`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mix:
    """One batch's draw: the share `lam` of each image that stays its own, and cutmix's box (else mixup)."""

    lam: float
    box: tuple[int, int, int, int] | None = None  # (top, bottom, left, right), rows and columns of the paste

    def images(self, images: np.ndarray, partners: np.ndarray) -> np.ndarray:
        """NHWC `images` mixed with `partners` (each image's partner in the reversed batch)."""
        if self.box is None:
            return images * np.float32(self.lam) + partners * np.float32(1.0 - self.lam)
        top, bottom, left, right = self.box
        out = images.copy()
        out[:, top:bottom, left:right] = partners[:, top:bottom, left:right]
        return out

    def targets(self, labels: np.ndarray, partners: np.ndarray, num_classes: int, smoothing: float) -> np.ndarray:
        """float32 (N, num_classes): lam * smoothed one-hot(labels) + (1 - lam) * smoothed one-hot(partners)."""
        off = smoothing / num_classes
        on = 1.0 - smoothing + off

        def one_hot(y: np.ndarray) -> np.ndarray:
            out = np.full((len(y), num_classes), off, np.float32)
            out[np.arange(len(y)), y] = on
            return out

        return one_hot(labels) * np.float32(self.lam) + one_hot(partners) * np.float32(1.0 - self.lam)


@dataclass(frozen=True)
class Mixing:
    """The mixing of a run's training batches: Beta parameters (0 turns a kind off), the chance of
    cutmix when both are on, the label smoothing of the targets and the model's class count."""

    num_classes: int
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.0

    def draw(self, rng: np.random.Generator, height: int, width: int) -> Mix:
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            cutmix = bool(rng.random() < self.switch_prob)
        else:
            cutmix = self.cutmix_alpha > 0
        alpha = self.cutmix_alpha if cutmix else self.mixup_alpha
        lam = float(rng.beta(alpha, alpha))
        return cutmix_box(rng, height, width, lam) if cutmix else Mix(lam)

    def apply(
        self, mix: Mix, images: np.ndarray, labels: np.ndarray, partners: np.ndarray, partner_labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(mixed images, soft targets) of images and their partners (the same rows of the reversed batch)."""
        return mix.images(images, partners), mix.targets(labels, partner_labels, self.num_classes, self.label_smoothing)


def cutmix_box(rng: np.random.Generator, height: int, width: int, lam: float) -> Mix:
    """timm's `rand_bbox` with `correct_lam`: a box of (1 - lam) of the area centred at a random pixel,
    clipped at the border; lam becomes the share of the image outside the clipped box."""
    ratio = np.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    top, bottom = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
    left, right = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
    box = (int(top), int(bottom), int(left), int(right))
    return Mix(1.0 - (box[1] - box[0]) * (box[3] - box[2]) / float(height * width), box)
