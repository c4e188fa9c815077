"""Training and evaluation: optax + Flax NNX, data parallel over devices, orbax checkpoints."""

from zoo.train.config import TrainConfig
from zoo.train.evaluate import evaluate
from zoo.train.loop import FitResult, fit

__all__ = ["FitResult", "TrainConfig", "evaluate", "fit"]
