"""Training and evaluation: optax + Flax NNX, data parallel over devices, orbax checkpoints."""

from typing import TYPE_CHECKING

from zoo.lazy import lazy_exports

if TYPE_CHECKING:
    from zoo.train.config import TrainConfig
    from zoo.train.evaluate import evaluate
    from zoo.train.loop import FitResult, fit

# Imported on first use, so the CLI can read TrainConfig's defaults without loading jax.
__getattr__ = lazy_exports(
    __name__,
    {
        "TrainConfig": "zoo.train.config",
        "evaluate": "zoo.train.evaluate",
        "FitResult": "zoo.train.loop",
        "fit": "zoo.train.loop",
    },
)

__all__ = ["FitResult", "TrainConfig", "evaluate", "fit"]
