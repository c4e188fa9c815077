"""Every conv lowering computes what lax.conv_general_dilated computes, forward and backward, and the
per-shape rule keeps XLA's own conv off the CPU."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jax import lax

import zoo
from zoo.errors import ConvLoweringError
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
    name=st.sampled_from([n for n in cl.LOWERINGS if n != "xla"]),
    seed=st.integers(0, 2**16),
)
def test_lowerings_match_xla_forward_and_gradients(
    batch, size, groups, in_per_group, out_per_group, kernel, stride, name, seed
):
    check_against_xla(batch, size, groups, in_per_group, out_per_group, kernel, stride, name, seed)


@settings(max_examples=6, deadline=None)
@given(
    size=st.integers(1, 5),
    groups=st.sampled_from([101, 128]),
    in_per_group=st.integers(1, 2),
    out_per_group=st.integers(1, 2),
    stride=st.sampled_from([1, 2]),
    name=st.sampled_from([n for n in cl.LOWERINGS if n != "xla"]),
    seed=st.integers(0, 2**16),
)
def test_depthwise_and_many_group_convs_match_xla(size, groups, in_per_group, out_per_group, stride, name, seed):
    check_against_xla(2, size, groups, in_per_group, out_per_group, 3, stride, name, seed)


def check_against_xla(batch, size, groups, in_per_group, out_per_group, kernel, stride, name, seed):
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
    for name in cl.LOWERINGS:
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
    with pytest.raises(ConvLoweringError, match="choose one of"):
        cl.set_conv_lowering("fastest")
    monkeypatch.setenv("ZOO_CONV_LOWERING", "gpu")
    with pytest.raises(ConvLoweringError, match="ZOO_CONV_LOWERING='gpu'"):
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


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 256),
    size=st.integers(1, 224),
    groups=st.integers(1, 512),
    in_per_group=st.integers(1, 64),
    out_per_group=st.integers(1, 64),
    kernel=st.sampled_from([1, 3, 5]),
    stride=st.sampled_from([1, 2]),
    backend=st.sampled_from(["gpu", "tpu", "cuda", "rocm"]),
)
def test_rule_keeps_xla_conv_off_the_cpu(batch, size, groups, in_per_group, out_per_group, kernel, stride, backend):
    shape = cl.ConvShape(
        batch, size, size, groups * in_per_group, groups * out_per_group, (kernel, kernel), (stride, stride), groups
    )
    assert cl.choose(shape, backend) == "xla"


def test_rule_on_the_cpu_avoids_xla_grouped_and_1x1_convs():
    depthwise = cl.ConvShape(32, 16, 16, 144, 144, (3, 3), (1, 1), 144)
    few_groups = cl.ConvShape(128, 24, 24, 32, 32, (3, 3), (1, 1), 2)
    pointwise = cl.ConvShape(8, 56, 56, 96, 96, (1, 1), (1, 1), 1)
    dense = cl.ConvShape(8, 224, 224, 3, 32, (3, 3), (2, 2), 1)
    assert cl.choose(depthwise, "cpu") == "taps"
    assert cl.choose(few_groups, "cpu") == "pergroup"
    assert cl.choose(pointwise, "cpu", padded=False) == "matmul"
    assert cl.choose(dense, "cpu") == "xla"
    for shape in (depthwise, few_groups, pointwise):
        assert cl.choose(shape, "gpu") == "xla"


def program_text(lowering, groups, kernel=3, channels=8):
    """The lowered program of one conv, traced under `lowering` (None: the env var / default)."""
    x = jnp.ones((1, 8, 8, channels))
    w = jnp.ones((kernel, kernel, channels // groups, channels))
    pad = kernel // 2
    previous = cl._choice.get()
    cl.set_conv_lowering(lowering)
    try:
        return (
            jax.jit(
                lambda x, w: cl.conv_general_dilated(
                    x, w, (1, 1), ((pad, pad), (pad, pad)), dimension_numbers=DN, feature_group_count=groups
                )
            )
            .lower(x, w)
            .as_text()
        )
    finally:
        cl.set_conv_lowering(previous)


def test_auto_lowering_follows_the_rule_and_the_env_var_forces_xla(monkeypatch):
    monkeypatch.delenv("ZOO_CONV_LOWERING", raising=False)
    assert "convolution" not in program_text(None, 8)  # depthwise -> taps on the CPU
    assert "convolution" not in program_text(None, 1, kernel=1)  # 1x1 -> matmul
    assert "feature_group_count = 4" not in program_text(None, 4)  # 2 channels per group -> taps
    monkeypatch.setenv("ZOO_CONV_LOWERING", "xla")
    assert "feature_group_count = 8" in program_text(None, 8)
    assert "convolution" in program_text(None, 1, kernel=1)


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 11),
    width=st.integers(1, 11),
    groups=st.integers(1, 4),
    in_per_group=st.integers(1, 3),
    kernel=st.sampled_from([2, 3, 5]),
    stride=st.sampled_from([2, 3]),
    pad=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_phases_match_xla_for_any_stride_kernel_and_padding(
    height, width, groups, in_per_group, kernel, stride, pad, seed
):
    """Space-to-depth: a strided conv as a stride-1 conv over the phases, forward and gradients."""
    assume(height + 2 * pad >= kernel and width + 2 * pad >= kernel)
    kx, kw, kc = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, (2, height, width, groups * in_per_group))
    w = jax.random.normal(kw, (kernel, kernel, in_per_group, groups * 2))
    padding = ((pad, pad), (pad, pad))

    def conv(x, w, name):
        with cl.conv_lowering(name):
            return cl.conv_general_dilated(
                x, w, (stride, stride), padding, dimension_numbers=DN, feature_group_count=groups
            )

    y_ref, y = conv(x, w, "xla"), conv(x, w, "phases")
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    cotangent = jax.random.normal(kc, y_ref.shape)
    ref = jax.vjp(lambda x, w: conv(x, w, "xla"), x, w)[1](cotangent)
    got = jax.vjp(lambda x, w: conv(x, w, "phases"), x, w)[1](cotangent)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
