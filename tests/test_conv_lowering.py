"""The fast conv lowerings compute what lax.conv_general_dilated computes, forward and backward."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

import zoo
from zoo.errors import ZooError
from zoo.nn import conv_lowering as cl

DN = ("NHWC", "HWIO", "NHWC")


def reference(x, w, stride, pad, groups):
    return lax.conv_general_dilated(
        x, w, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=DN, feature_group_count=groups
    )


def lowered(x, w, stride, pad, groups, name):
    with cl.conv_lowering(name):
        return cl.conv_general_dilated(
            x, w, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=DN, feature_group_count=groups
        )


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 3),
    size=st.integers(1, 9),
    groups=st.integers(1, 5),
    in_per_group=st.integers(1, 4),
    out_per_group=st.integers(1, 4),
    kernel=st.sampled_from([1, 3]),
    stride=st.sampled_from([1, 2]),
    name=st.sampled_from(["fast", "blockdiag"]),
    seed=st.integers(0, 2**16),
)
def test_lowerings_match_xla_forward_and_gradients(
    batch, size, groups, in_per_group, out_per_group, kernel, stride, name, seed
):
    kx, kw, kc = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, (batch, size, size, groups * in_per_group))
    w = jax.random.normal(kw, (kernel, kernel, in_per_group, groups * out_per_group))
    pad = kernel // 2
    y_ref = reference(x, w, stride, pad, groups)
    cotangent = jax.random.normal(kc, y_ref.shape)
    y = lowered(x, w, stride, pad, groups, name)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)

    def pulled(fn):
        return jax.vjp(fn, x, w)[1](cotangent)

    gx_ref, gw_ref = pulled(lambda x, w: reference(x, w, stride, pad, groups))
    gx, gw = pulled(lambda x, w: lowered(x, w, stride, pad, groups, name))
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=1e-4)


def test_model_outputs_agree_across_lowerings():
    spec = zoo.ModelSpec(
        stages=(zoo.StageSpec(1, 16, 4), zoo.StageSpec(2, 24, 8)), stem_width=8, num_classes=4, input_size=16
    )
    model = zoo.create(spec)
    model.eval()
    x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
    outputs = {}
    for name in cl.LOWERINGS:
        with cl.conv_lowering(name):
            outputs[name] = jax.jit(lambda x: model(x))(x)
    for name in ("fast", "blockdiag"):
        np.testing.assert_allclose(outputs[name], outputs["xla"], rtol=1e-5, atol=1e-5)


def test_fast_lowering_removes_grouped_convs_from_the_program():
    x = jnp.ones((1, 8, 8, 8))
    w = jnp.ones((3, 3, 2, 8))
    with cl.conv_lowering("fast"):
        text = (
            jax.jit(
                lambda x, w: cl.conv_general_dilated(
                    x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=DN, feature_group_count=4
                )
            )
            .lower(x, w)
            .as_text()
        )
    assert "feature_group_count = 4" not in text
    with cl.conv_lowering("xla"):
        text = (
            jax.jit(
                lambda x, w: cl.conv_general_dilated(
                    x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=DN, feature_group_count=4
                )
            )
            .lower(x, w)
            .as_text()
        )
    assert "feature_group_count = 4" in text


def test_unknown_lowering_is_refused(monkeypatch):
    with pytest.raises(ZooError, match="choose one of"):
        cl.set_conv_lowering("fastest")
    monkeypatch.setenv("ZOO_CONV_LOWERING", "gpu")
    with pytest.raises(ZooError, match="ZOO_CONV_LOWERING='gpu'"):
        cl.current()


def test_compiled_forward_equals_the_eval_model():
    spec = zoo.ModelSpec(
        stages=(zoo.StageSpec(1, 16, 4), zoo.StageSpec(2, 24, 8)), stem_width=8, num_classes=4, input_size=16
    )
    model = zoo.create(spec)
    x = jax.random.normal(jax.random.key(5), (3, 16, 16, 3))
    forward = zoo.compile_forward(model, x)
    model.eval()
    np.testing.assert_allclose(forward(x), model(x), rtol=1e-5, atol=1e-5)
