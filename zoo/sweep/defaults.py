"""The default small-image setting of `zoo sweep run`: input size, stem, band and recipe for digits.

Chosen by measurement (bench/sweep_trial.py, bench/NOTES.md, docs/design-spaces.md) so that
the models a band draws train to a useful error in a few seconds each: a stride-1 stem (pycls's
CIFAR stem) keeps the 8x8 digits, upsampled to 16 px, from shrinking to 1x1 before the last
stage, and a short recipe with a larger batch converges in few steps.
"""

from __future__ import annotations

from typing import Any

# Where the models live: input side, stem and its width, and the complexity band (multiply-adds).
DEFAULT_SETTING: dict[str, Any] = {
    "image_size": 16,
    "stem": "cifar",
    "stem_width": 16,
    "flops": "2M:4M",
    "options": {"zero_init_last_bn": True},
}

# The fixed short recipe every trial of a sweep trains with (TrainConfig settings).
RECIPE_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 64,
    "lr": 0.1,
    "optimizer": "nesterov",
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "warmup_epochs": 0.5,
    "augment": True,
    "precise_bn_images": 0,
    "layerwise": True,
}


def default_recipe(**changes: Any) -> dict[str, Any]:
    """The default recipe on digits, with `changes` applied."""
    return {**RECIPE_DEFAULTS, "dataset": "digits", "image_size": DEFAULT_SETTING["image_size"], **changes}
