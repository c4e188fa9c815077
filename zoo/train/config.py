"""Every training setting in one frozen, validated value (saved with each checkpoint)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from zoo.errors import TrainConfigError, reject_unknown
from zoo.split_syntax import split_problem

OPTIMIZERS = ("sgd", "nesterov", "adamw")
SCHEDULES = ("constant", "cosine", "step")
DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one run. Defaults are the short `digits` recipe of the README."""

    dataset: str = "digits"
    train_split: str = "train"
    test_split: str = "test"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    step_epochs: tuple[int, ...] = ()
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    clip_grad_norm: float | None = None
    image_size: int | None = 32
    augment: bool = True
    precise_bn_images: int = 256  # 8 batches of 32: the statistics within ~1% of 2048 images (bench/NOTES.md 14)
    seed: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    eval_batch_size: int | None = None
    data_dir: str | None = None
    dtype: str | None = None  # compute dtype; None: the model's own (float32 unless built with one)
    ema_decay: float = 0.0  # 0: no EMA; else the raw and EMA weights are evaluated, the better saved
    accum_steps: int = 1  # gradient accumulation: one optimizer update per this many steps
    mixup_alpha: float = 0.0  # mixup of training batches, lambda ~ Beta(alpha, alpha); 0: off
    cutmix_alpha: float = 0.0  # cutmix likewise; with both on, one of the two per batch
    mixup_switch_prob: float = 0.5  # the chance of cutmix for a batch when both are on
    randaugment_ops: int = 0  # RandAugment: operations per training image; 0: off
    randaugment_magnitude: float = 9.0  # RandAugment's magnitude, 0 to 10
    tensorboard: bool = False  # also log each epoch's metrics to out_dir/tensorboard (needs tensorboardX)

    def __post_init__(self) -> None:
        object.__setattr__(self, "step_epochs", tuple(int(e) for e in self.step_epochs))
        object.__setattr__(self, "optimizer", str(self.optimizer).lower())
        object.__setattr__(self, "schedule", str(self.schedule).lower())
        if self.dtype is not None:
            object.__setattr__(self, "dtype", _dtype_name(self.dtype))
        self._check()

    def _check(self) -> None:
        def bad(what: str) -> TrainConfigError:
            return TrainConfigError(f"training setting {what}")

        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise bad(f"dataset={self.dataset!r} is empty; name one: digits, fashion_mnist, a tfds name or folder:PATH")
        for name in ("train_split", "test_split"):
            problem = split_problem(getattr(self, name))
            if problem:
                raise bad(f"{name}={getattr(self, name)!r} is malformed: {problem}")
        if not 0 <= int(self.seed) < 2**32:
            raise bad(f"seed={self.seed} must be in [0, 2**32): numpy and jax take unsigned 32-bit seeds")
        if self.optimizer not in OPTIMIZERS:
            raise bad(f"optimizer={self.optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise bad(f"dtype={self.dtype!r} is unknown; choose one of {', '.join(DTYPES)}")
        if not 0 <= self.ema_decay < 1:
            raise bad(f"ema_decay={self.ema_decay} must be in [0, 1) (0 turns EMA off; 0.999 is usual)")
        if self.schedule not in SCHEDULES:
            raise bad(f"schedule={self.schedule!r} is unknown; choose one of {', '.join(SCHEDULES)}")
        for name in ("epochs", "batch_size", "keep_checkpoints", "accum_steps"):
            if int(getattr(self, name)) < 1:
                raise bad(f"{name}={getattr(self, name)} must be at least 1")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise bad(f"eval_batch_size={self.eval_batch_size} must be at least 1")
        if self.image_size is not None and self.image_size < 4:
            raise bad(f"image_size={self.image_size} must be at least 4 pixels")
        if not self.lr > 0:
            raise bad(f"lr={self.lr} must be positive")
        if not 0 <= self.momentum < 1:
            raise bad(f"momentum={self.momentum} must be in [0, 1)")
        if self.weight_decay < 0:
            raise bad(f"weight_decay={self.weight_decay} must be >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise bad(f"label_smoothing={self.label_smoothing} must be in [0, 1)")
        for name in ("mixup_alpha", "cutmix_alpha"):
            if not getattr(self, name) >= 0:
                raise bad(f"{name}={getattr(self, name)} must be >= 0 (0 turns it off; 0.2 to 1 are usual)")
        if not 0 <= self.randaugment_ops <= 10:
            raise bad(
                f"randaugment_ops={self.randaugment_ops} must be in [0, 10] (0 turns RandAugment off; 2 is usual)"
            )
        if not 0 <= self.randaugment_magnitude <= 10:
            raise bad(f"randaugment_magnitude={self.randaugment_magnitude} must be in [0, 10] (9 is usual)")
        if not 0 <= self.mixup_switch_prob <= 1:
            raise bad(f"mixup_switch_prob={self.mixup_switch_prob} must be in [0, 1]")
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise bad(f"clip_grad_norm={self.clip_grad_norm} must be positive (or None for no clipping)")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise bad(f"warmup_epochs={self.warmup_epochs} must be in [0, epochs={self.epochs}]")
        if self.precise_bn_images < 0:
            raise bad(f"precise_bn_images={self.precise_bn_images} must be >= 0 (0 keeps the running averages)")
        if self.checkpoint_every < 0:
            raise bad(f"checkpoint_every={self.checkpoint_every} must be >= 0 steps (0: at each epoch's end)")
        if self.schedule == "step" and any(not 0 < e < self.epochs for e in self.step_epochs):
            raise bad(f"step_epochs={list(self.step_epochs)} must lie strictly between 0 and epochs={self.epochs}")

    @property
    def total_independent_schedule(self) -> bool:
        """Whether every step's learning rate is independent of `epochs` (so a run may be extended)."""
        return self.schedule == "constant" or (self.schedule == "step" and bool(self.step_epochs))

    @property
    def mixes(self) -> bool:
        """Whether training batches are mixed (mixup or cutmix), so the loss takes soft targets."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def replace(self, **changes: Any) -> TrainConfig:
        reject_unknown(
            changes, (f.name for f in fields(self)), "TrainConfig", TrainConfigError, what="training setting"
        )
        return TrainConfig(**{**asdict(self), **changes})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["step_epochs"] = list(self.step_epochs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return cls().replace(**data)


def _dtype_name(dtype: Any) -> str:
    """'bfloat16' from jnp.bfloat16, np.dtype('bfloat16') or the string itself."""
    return str(getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or dtype)
