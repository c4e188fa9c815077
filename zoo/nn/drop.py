"""Dropout and stochastic depth (drop path), as timm's `drop_rate` and `drop_path_rate`.

Both are spec options (zoo.spec.DROP_OPTIONS), 0 by default, and act in train mode only
(`model.train()`; `model.eval()` makes them the identity). At 0 no module is built at all, so a
model without them has exactly the parameters, state and outputs it always had. Their masks come
from the `dropout` RNG stream, which `model_rngs` keeps apart from the parameters' `default`
stream: turning them on leaves the initial parameters unchanged. The stream lives in the modules
(nnx.Dropout keeps its RngStream), so a train step that carries the model's non-parameter state
draws fresh masks each step; weights files never hold it (zoo.weights.state_file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
from flax import nnx

DROPOUT_STREAM = "dropout"
_DROPOUT_SALT = 0x0D0  # folded into the seed so the masks' stream is not the parameters'


def dropout_key(seed: int) -> jax.Array:
    """The key of a model's `dropout` stream for `seed`."""
    return jax.random.fold_in(jax.random.key(seed), _DROPOUT_SALT)


def model_rngs(seed: int) -> nnx.Rngs:
    """The Rngs a model is built with: `default` draws the parameters exactly as nnx.Rngs(seed) does,
    `dropout` seeds the dropout and drop-path masks."""
    return nnx.Rngs(seed, **{DROPOUT_STREAM: dropout_key(seed)})


def drop_path_rates(depths: Sequence[int], rate: float) -> list[list[float]]:
    """Each block's drop-path rate, per stage: rising linearly from 0 at the first block to `rate` at the
    last, as timm spreads it (torch.linspace(0, rate, sum(depths)).split(depths))."""
    total = sum(depths)
    flat = [rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
    out, start = [], 0
    for depth in depths:
        out.append(flat[start : start + depth])
        start += depth
    return out


def drop_path(options: Mapping[str, Any], *, rngs: nnx.Rngs) -> nnx.Dropout | None:
    """Stochastic depth for a residual branch at the block's own `drop_path_rate` (AnyNet hands each
    block its share in `options`): in train mode each sample's branch is zeroed with that probability
    and otherwise scaled by 1 / (1 - rate). None at rate 0."""
    rate = float(options.get("drop_path_rate", 0.0))
    return nnx.Dropout(rate, broadcast_dims=(1, 2, 3), rng_collection=DROPOUT_STREAM, rngs=rngs) if rate else None


def dropout(options: Mapping[str, Any], *, rngs: nnx.Rngs) -> nnx.Dropout | None:
    """Dropout at the spec's `drop_rate`, for a head's pooled features before its classifier. None at 0."""
    rate = float(options.get("drop_rate", 0.0))
    return nnx.Dropout(rate, rng_collection=DROPOUT_STREAM, rngs=rngs) if rate else None
