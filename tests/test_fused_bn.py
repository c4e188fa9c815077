"""The zoo's BatchNorm equals flax's: outputs, gradients and running statistics, fused or not."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.nn.layers import BatchNorm


def pair(channels, momentum, seed):
    ours = BatchNorm(channels, momentum=momentum, rngs=nnx.Rngs(0))
    theirs = nnx.BatchNorm(channels, momentum=momentum, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(seed)
    for bn in (ours, theirs):
        bn.scale[...] = jnp.asarray(rng.standard_normal(channels), jnp.float32)
        rng = np.random.default_rng(seed)  # the same parameters in both
    for bn in (ours, theirs):
        bn.bias[...] = jnp.full((channels,), 0.1, jnp.float32)
        bn.mean[...] = jnp.full((channels,), 0.3, jnp.float32)
        bn.var[...] = jnp.full((channels,), 2.0, jnp.float32)
    return ours, theirs


def train_step(bn, x, cotangent, relu):
    """y, d(x, scale, bias) of <y, cotangent>, and the running statistics after the step."""

    def loss(module, x):
        if isinstance(module, BatchNorm):
            y = module(x, relu=relu)
        else:
            y = nnx.relu(module(x)) if relu else module(x)
        return (y * cotangent).sum(), y

    (_, y), (gparams, gx) = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(bn, x)
    return y, gx, gparams["scale"][...], gparams["bias"][...], bn.mean[...], bn.var[...]


@settings(max_examples=20, deadline=None)
@given(
    batch=st.integers(1, 4),
    size=st.integers(1, 6),
    channels=st.integers(1, 9),
    relu=st.booleans(),
    momentum=st.sampled_from([0.9, 0.99]),
    offset=st.sampled_from([0.0, 3.0]),
    seed=st.integers(0, 2**16),
)
def test_train_mode_matches_flax(batch, size, channels, relu, momentum, offset, seed):
    ours, theirs = pair(channels, momentum, seed)
    ours.train()
    theirs.train()
    rng = np.random.default_rng(seed + 1)
    x = jnp.asarray(rng.standard_normal((batch, size, size, channels)) * 2 + offset, jnp.float32)
    cotangent = jnp.asarray(rng.standard_normal(x.shape), jnp.float32)
    for a, b in zip(train_step(ours, x, cotangent, relu), train_step(theirs, x, cotangent, relu)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)


def test_eval_mode_and_bfloat16_take_flax_path():
    ours, theirs = pair(4, 0.9, 0)
    x = jnp.asarray(np.random.default_rng(3).standard_normal((2, 3, 3, 4)), jnp.float32)
    ours.eval()
    theirs.eval()
    np.testing.assert_array_equal(ours(x), theirs(x))  # the same computation: flax's own
    np.testing.assert_array_equal(ours(x, relu=True), nnx.relu(theirs(x)))
    ours.train()
    ours.dtype = jnp.bfloat16
    assert not ours._fusable(x.astype(jnp.bfloat16))
