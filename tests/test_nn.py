"""The AnyNet module: the seed's shapes and parameter count, modes, and forward behaviour."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from contracts import param_count, tiny_spec
from flax import nnx

import zoo
from zoo.errors import SpecError

SEED_SHAPES = [(1, 48, 48, 32), (1, 24, 24, 32), (1, 12, 12, 80), (1, 10)]


def test_seed_layer_summary_matches_the_book(capsys):
    text = zoo.layer_summary("regnetx32", (1, 96, 96, 1))
    shapes = [tuple(int(d) for d in line.split("(")[1].rstrip(")").split(",")) for line in text.splitlines()]
    assert shapes == SEED_SHAPES
    assert capsys.readouterr().out.strip() == text


def test_seed_has_179290_trainable_parameters():
    model = zoo.create("regnetx32")
    assert param_count(model) == 179_290


def test_seed_convs_carry_bias_and_paper_models_do_not():
    assert zoo.create("regnetx32").stem.conv.bias is not None
    paper = nnx.eval_shape(lambda: zoo.create("regnetx_002"))
    assert paper.stem.conv.bias is None


def test_state_keys_are_flat_readable_names():
    keys = {".".join(map(str, k)) for k, _ in nnx.to_flat_state(nnx.state(zoo.create(tiny_spec())))}
    assert {
        "stem.conv.kernel",
        "stages.0.blocks.0.conv2.kernel",
        "stages.1.blocks.1.bn3.mean",
        "stages.1.blocks.0.proj_conv.kernel",
        "head.fc.kernel",
    } <= keys


def test_forward_gives_logits_per_image():
    model = zoo.create(tiny_spec())
    x = jax.random.normal(jax.random.key(1), (3, 16, 16, 3))
    assert model(x).shape == (3, 5)


def test_grouped_conv_has_the_spec_groups():
    model = zoo.create(tiny_spec())
    # 16 channels in groups of 8: kernel is (3, 3, 16 // 2, 16)
    assert model.stages[1].blocks[0].conv2.kernel.shape == (3, 3, 8, 16)


def test_train_mode_updates_batch_statistics_and_eval_mode_does_not():
    model = zoo.create(tiny_spec())
    x = jax.random.normal(jax.random.key(2), (4, 16, 16, 3)) * 3 + 1
    before = np.asarray(model.stem.bn.mean[...])
    model.train()
    model(x)
    after_train = np.asarray(model.stem.bn.mean[...])
    assert not np.allclose(before, after_train)
    model.eval()
    model(x)
    np.testing.assert_array_equal(after_train, np.asarray(model.stem.bn.mean[...]))


def test_eval_mode_is_deterministic_and_per_example():
    model = zoo.create(tiny_spec())
    model.eval()
    x = jax.random.normal(jax.random.key(3), (4, 16, 16, 3))
    full = model(x)
    np.testing.assert_allclose(model(x[:1]), full[:1], rtol=1e-5, atol=1e-5)


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (zoo.create(tiny_spec(), seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.stem.conv.kernel[...], b.stem.conv.kernel[...])
    assert not np.array_equal(a.stem.conv.kernel[...], c.stem.conv.kernel[...])


def test_odd_input_sizes_work():
    model = zoo.create(tiny_spec(input_size=17))
    assert model(jnp.ones((1, 17, 17, 3))).shape == (1, 5)


def test_summary_rejects_wrong_input_shapes():
    with pytest.raises(SpecError, match="four positive integers"):
        zoo.layer_summary("regnetx32", (96, 96, 1))
    with pytest.raises(SpecError, match="has 3 channels but the model takes 1"):
        zoo.layer_summary("regnetx32", (1, 96, 96, 3))


def test_jitted_forward_matches_eager():
    model = zoo.create(tiny_spec())
    model.eval()
    x = jax.random.normal(jax.random.key(4), (2, 16, 16, 3))
    jitted = nnx.jit(lambda m, x: m(x))
    np.testing.assert_allclose(jitted(model, x), model(x), rtol=1e-5, atol=1e-5)
