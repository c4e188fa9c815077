"""`zoo.tune`: time the conv lowerings of a model's shapes on this CPU ahead of its first use.

Training and inference tune on first use anyway (zoo.nn.conv_tuning); tuning ahead of time moves
that wait out of the first run, and says what each shape got and what it saves over the static rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
from flax import nnx

from zoo.errors import InputShapeError
from zoo.nn import conv_tuning


@dataclass(frozen=True)
class TuneResult:
    """The tunable conv shapes of one model at one input shape: each one's form, and those timed now."""

    forms: dict[str, str]
    tuned: list[conv_tuning.Tuned]
    table: str
    backend: str


def tune(model: Any, *, batch_size: int = 32, image_size: int | None = None) -> TuneResult:
    """Trace `model`'s forward and backward at (batch_size, image_size) so every conv shape it has is
    timed and kept in the tuning table, which every later trace reads (once per machine;
    ZOO_CONV_TUNING=always times them again, =off not at all). Off the CPU there is nothing to tune:
    XLA's own conv is used there."""
    if batch_size < 1:
        raise InputShapeError(f"batch_size={batch_size} must be at least 1")
    size = image_size or model.spec.input_size
    if size < 4:
        raise InputShapeError(f"image_size={size} must be at least 4 pixels")
    backend = jax.default_backend()
    tuned_before = len(conv_tuning.report())
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)  # type: ignore[misc]

    def loss(params, rest, x):
        copy = nnx.merge(graphdef, params, rest)
        copy.eval()  # the same convs as in training, with no BN statistics to update under the trace
        return copy(x).sum()

    example = jax.ShapeDtypeStruct((batch_size, size, size, model.spec.in_channels), jax.numpy.float32)
    with conv_tuning.timing(), conv_tuning.recording() as forms:
        jax.eval_shape(jax.grad(loss), params, rest, example)
    return TuneResult(dict(forms), conv_tuning.report()[tuned_before:], str(conv_tuning.table_path()), backend)
