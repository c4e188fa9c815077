"""zoo.nn.init: flax's initialiser distributions, a few compiled programs for any number of shapes."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.nn import init


def test_he_normal_has_the_fan_out_std_and_is_truncated_at_two_sigma():
    shape = (3, 3, 16, 64)
    w = np.asarray(init.he_normal_fan_out(jax.random.key(0), shape))
    assert w.shape == shape and w.dtype == np.float32
    std = math.sqrt(2.0 / (3 * 3 * 64))
    assert abs(w.std() / std - 1) < 0.05
    assert abs(w.mean()) < 0.05 * std
    assert np.abs(w).max() <= 2 * std / init._TRUNCATED_STD * (1 + 1e-6)


def test_normal_has_its_std_and_is_not_truncated():
    w = np.asarray(init.normal(0.01)(jax.random.key(1), (256, 100)))
    assert abs(w.std() / 0.01 - 1) < 0.05
    assert np.abs(w).max() > 3 * 0.01  # 25,600 untruncated draws reach past 3 sigma


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=4))
def test_traced_and_concrete_draws_agree(shape):
    key = jax.random.key(3)
    eager = init.he_normal_fan_out(key, tuple(shape))
    traced = jax.jit(lambda k: init.he_normal_fan_out(k, tuple(shape)))(key)
    assert eager.shape == traced.shape == tuple(shape)
    np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), rtol=1e-6, atol=0)


def test_many_shapes_share_a_few_compiled_programs():
    before = init._flat_normal._cache_size()
    key = jax.random.key(0)
    for c in range(8, 8 * 41, 8):  # 40 conv kernels of different widths
        init.he_normal_fan_out(key, (3, 3, 8, c))
    assert init._flat_normal._cache_size() - before <= 5


def test_models_draw_different_weights_per_seed_and_the_same_per_seed():
    a, b, c = (zoo.create("regnetx32", seed=s) for s in (0, 0, 1))
    ka, kb, kc = (m.stages[0].blocks[0].conv2.kernel[...] for m in (a, b, c))
    assert jnp.array_equal(ka, kb)
    assert not jnp.allclose(ka, kc)
