"""timm's habits work here, or point the way: create vs load, drop rates, list_pretrained, gradient
checkpointing, pretrained_cfg, the [all] extra and the model card's pip line (issue #24, items 4 and 7)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import zoo
from zoo import plugin_kit as kit
from zoo.errors import PretrainedArgumentError, PretrainedError, SpecError, ZooError
from zoo.hub.card import render_model_card
from zoo.nn.anynet import AnyNet
from zoo.plugins import manager
from zoo.train import fit
from zoo.train.steps import TrainState, make_train_step, split_model
from zoo.weights.state_file import read_arrays

ROOT = Path(__file__).resolve().parents[1]
TINY = zoo.ModelSpec(
    stages=(zoo.StageSpec(2, 8, 8, 1.0, 2), zoo.StageSpec(2, 16, 8, 1.0, 2)),
    stem_width=8,
    num_classes=5,
    input_size=16,
)
X = np.asarray(jax.random.normal(jax.random.key(1), (4, 16, 16, 3)))


def arrays(model, what=nnx.Not(nnx.RngState)) -> dict[str, np.ndarray]:
    return {".".join(map(str, k)): np.asarray(v.get_value()) for k, v in nnx.to_flat_state(nnx.state(model, what))}


# -- create(name, pretrained=True) points to load -------------------------------------------------------
def test_create_with_pretrained_raises_a_typed_error_naming_the_load_call():
    with pytest.raises(PretrainedArgumentError) as caught:
        zoo.create("regnetx32", pretrained=True)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, PretrainedError)
    assert isinstance(caught.value, ZooError)
    assert "use zoo.load('regnetx32', pretrained=True)" in str(caught.value)


def test_create_with_a_checkpoint_path_points_to_load_too():
    with pytest.raises(PretrainedArgumentError, match=r"use zoo\.load\('regnetx32', checkpoint_path='m.safetensors'\)"):
        zoo.create("regnetx32", checkpoint_path="m.safetensors")
    with pytest.raises(PretrainedArgumentError, match=r"zoo\.load\(spec, checkpoint_path="):
        zoo.create(TINY, pretrained=True)


def test_create_with_pretrained_false_is_a_random_init():
    assert isinstance(zoo.create(TINY, pretrained=False), AnyNet)


# -- drop_rate and drop_path_rate -----------------------------------------------------------------------
def test_drop_rates_at_zero_give_bitwise_the_model_built_before_they_existed():
    for model in (zoo.create(TINY), zoo.create(TINY, drop_rate=0.0, drop_path_rate=0)):
        before = AnyNet(TINY, rngs=nnx.Rngs(0), plugins=manager())  # how zoo.create built a model until now
        assert model.spec == TINY
        ours, theirs = arrays(model, ...), arrays(before, ...)
        assert ours.keys() == theirs.keys()
        assert all(np.array_equal(ours[k], theirs[k]) for k in ours)
        for mode in ("train", "eval"):
            getattr(model, mode)(), getattr(before, mode)()
            np.testing.assert_array_equal(model(X), before(X))


def test_drop_rates_leave_the_initial_parameters_unchanged():
    plain, dropped = arrays(zoo.create(TINY)), arrays(zoo.create(TINY, drop_rate=0.3, drop_path_rate=0.2))
    assert plain.keys() == dropped.keys()
    assert all(np.array_equal(plain[k], dropped[k]) for k in plain)


def test_drop_path_rises_linearly_from_the_first_block_to_the_last():
    model = zoo.create(TINY, drop_path_rate=0.3)
    blocks = [block for stage in model.stages for block in stage.blocks]
    rates = [block.drop_path.rate if block.drop_path is not None else 0.0 for block in blocks]
    np.testing.assert_allclose(rates, np.linspace(0.0, 0.3, len(blocks)))
    assert blocks[0].drop_path is None  # rate 0: no module at all


def test_drop_path_zeroes_or_rescales_each_sample_branch_whole():
    layer = kit.drop_path({"drop_path_rate": 0.5}, rngs=nnx.Rngs(dropout=0))
    y = np.asarray(layer(jnp.ones((64, 3, 3, 4))))
    per_sample = {tuple(np.unique(sample)) for sample in y}
    assert per_sample == {(0.0,), (2.0,)}  # dropped, or kept and scaled by 1 / (1 - rate)
    assert kit.drop_path({}, rngs=nnx.Rngs(0)) is None and kit.dropout({"drop_rate": 0}, rngs=nnx.Rngs(0)) is None


def test_drop_rates_act_in_train_mode_only():
    plain, dropped = zoo.create(TINY), zoo.create(TINY, drop_rate=0.5, drop_path_rate=0.5)
    plain.eval(), dropped.eval()
    np.testing.assert_array_equal(dropped(X), plain(X))  # eval: deterministic, the model without them
    plain.train(), dropped.train()
    first, second = np.asarray(dropped(X)), np.asarray(dropped(X))
    assert not np.allclose(first, second)  # a fresh mask on each call
    assert not np.allclose(first, plain(X))


@pytest.mark.parametrize("bad", [1.0, -0.1, True, "0.1"])
def test_drop_rates_are_probabilities_below_one(bad):
    with pytest.raises(SpecError, match="drop_path_rate"):
        zoo.create(TINY, drop_path_rate=bad)


def test_drop_rates_are_saved_in_config_json_and_never_in_the_weights(tmp_path):
    model = zoo.create(TINY, drop_rate=0.25, drop_path_rate=0.1)
    zoo.save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert re.search(r'"drop_path_rate": 0\.1\b', json.dumps(config)) and '"drop_rate": 0.25' in json.dumps(config)
    saved, _ = read_arrays(tmp_path / "model.safetensors")
    assert set(saved) == set(arrays(model)) and not any("rngs" in k for k in saved)

    again = zoo.load(f"local-dir:{tmp_path}")
    assert again.spec == model.spec and dict(again.spec.options) == {"drop_path_rate": 0.1, "drop_rate": 0.25}
    model.eval(), again.eval()
    np.testing.assert_array_equal(again(X), model(X))
    again.train()
    assert not np.allclose(again(X), again(X))  # its dropout streams are real, not the abstract build's
    off = zoo.load(f"local-dir:{tmp_path}", drop_rate=0, drop_path_rate=0)
    assert dict(off.spec.options) == {} and not arrays(off, nnx.RngState)


def _steps(model, count: int) -> tuple[list[float], list[int]]:
    """Losses and dropout-stream counts over `count` jitted train steps at learning rate 0 (weights fixed)."""
    train_def, _, params, rest = split_model(model)
    tx = optax.sgd(0.0)
    state = TrainState(params, rest, tx.init(params), jnp.zeros((), jnp.int32), jax.random.key_data(jax.random.key(0)))
    step = jax.jit(make_train_step(train_def, tx))
    labels = jnp.arange(len(X)) % TINY.num_classes
    losses, counts = [], []
    for _ in range(count):
        state, metrics = step(state, jnp.asarray(X), labels)
        losses.append(float(metrics["loss"]))
        counts.append(
            sorted(
                {
                    int(c)
                    for c in jax.tree.leaves(nnx.state(nnx.merge(train_def, state.params, state.rest), nnx.RngCount))
                }
            )
        )
    return losses, counts


def test_the_train_step_draws_fresh_masks_each_step():
    losses, counts = _steps(zoo.create(TINY, drop_rate=0.5, drop_path_rate=0.5), 3)
    assert counts == [[1], [2], [3]]  # every dropout stream advanced once per step, carried in the state
    assert len(set(losses)) == 3  # same weights, same batch: only the masks differ
    plain_losses, plain_counts = _steps(zoo.create(TINY), 2)
    assert plain_losses[0] == plain_losses[1] and plain_counts == [[], []]


def test_fit_trains_with_drop_rates_and_its_folder_loads_them_back(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    labels = (np.arange(32) >= 16).astype(np.int64)
    spec = TINY.replace(num_classes=2, input_size=8, drop_rate=0.2, drop_path_rate=0.2)
    result = fit(spec, data=(images, labels), epochs=1, batch_size=8, image_size=8, ema_decay=0.9,
                 precise_bn_images=16, out_dir=tmp_path / "run", progress=False)  # fmt: skip
    steps = result.history[-1]["step"]
    assert {int(c) for c in jax.tree.leaves(nnx.state(result.model, nnx.RngCount))} == {steps}
    assert zoo.load(f"local-dir:{tmp_path / 'run'}").spec.options == spec.options


# -- list_pretrained --------------------------------------------------------------------------------------
def test_list_pretrained_gives_sorted_name_dot_tag_strings():
    tags = zoo.list_pretrained()
    assert tags == sorted(tags) and "regnetx32.fashion_mnist" in tags
    assert {t.rpartition(".")[0] for t in tags} == set(zoo.list_models(pretrained=True))
    assert "list_pretrained" in zoo.__all__


def test_list_pretrained_matches_a_bare_name_with_any_tag_and_a_tag_pattern():
    assert "regnetx32.fashion_mnist" in zoo.list_pretrained("regnetx32")
    assert all(t.startswith("regnetx32.") for t in zoo.list_pretrained("regnetx32"))
    assert zoo.list_pretrained("*.fashion_mnist") == ["regnetx32.fashion_mnist"]
    assert zoo.list_pretrained("no_such_model*") == []


# -- gradient checkpointing --------------------------------------------------------------------------------
def _loss_and_grads(model):
    labels = jnp.arange(len(X)) % TINY.num_classes

    def loss(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(jnp.asarray(X)), labels).mean()

    return nnx.value_and_grad(loss)(model)


def test_grad_checkpointing_keeps_outputs_and_gradients_and_recomputes_each_stage():
    plain, checkpointed = zoo.create(TINY), zoo.create(TINY)
    checkpointed.set_grad_checkpointing()
    assert checkpointed.grad_checkpointing and not plain.grad_checkpointing
    (loss, grads), (loss_ckpt, grads_ckpt) = _loss_and_grads(plain), _loss_and_grads(checkpointed)
    np.testing.assert_allclose(loss_ckpt, loss, rtol=1e-5)
    for ours, theirs in zip(jax.tree.leaves(grads_ckpt), jax.tree.leaves(grads)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        arrays(checkpointed, nnx.BatchStat)["stem.bn.mean"], arrays(plain, nnx.BatchStat)["stem.bn.mean"]
    )

    def rematerialized(model) -> int:
        """How many jax.checkpoint regions the training program has (the primitive's name varies by JAX version)."""
        graph, state = nnx.split(model)
        program = str(jax.make_jaxpr(lambda s: _loss_and_grads(nnx.merge(graph, s))[0])(state))
        return len(re.findall(r"= (?:remat2?|checkpoint)\[", program))

    assert rematerialized(checkpointed) == len(TINY.stages) and rematerialized(plain) == 0
    checkpointed.set_grad_checkpointing(False)
    assert rematerialized(checkpointed) == 0


def _residual_bytes(model) -> int:
    """Bytes of what the forward pass keeps for the backward pass (the leaves of jax.vjp's closure)."""
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    labels = jnp.arange(len(X)) % TINY.num_classes

    def loss(params, rest):
        m = nnx.merge(graph, params, rest)
        logits = m(jnp.asarray(X))
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), nnx.state(m, nnx.Not(nnx.Param))

    _, backward, _ = jax.vjp(loss, params, rest, has_aux=True)
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(backward))


def test_grad_checkpointing_keeps_fewer_activations_for_the_backward_pass():
    plain, checkpointed = zoo.create(TINY), zoo.create(TINY)
    checkpointed.set_grad_checkpointing()
    assert _residual_bytes(checkpointed) < 0.6 * _residual_bytes(plain)


def test_a_backbone_checkpoints_its_stages_too():
    backbone = zoo.create(TINY, features_only=True)
    before = backbone(jnp.asarray(X))
    backbone.set_grad_checkpointing()
    for ours, theirs in zip(backbone(jnp.asarray(X)), before):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


# -- pretrained_cfg ----------------------------------------------------------------------------------------
def test_pretrained_cfg_is_the_read_only_data_config_the_model_carries():
    model = zoo.load("regnetx32", pretrained=True)
    assert model.pretrained_cfg is model.data_config and model.pretrained_cfg == zoo.data_config(model)
    assert model.pretrained_cfg.input_size == 28
    with pytest.raises(AttributeError):
        model.pretrained_cfg = None
    assert zoo.load("regnetx32", pretrained=True, features_only=True).pretrained_cfg == model.pretrained_cfg
    assert zoo.create(TINY).pretrained_cfg is None  # no weights, no source: zoo.data_config gives the defaults


# -- item 7: the [all] extra and the card's pip line -------------------------------------------------------
def test_the_all_extra_brings_every_optional_feature_but_tensorflow():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (included,) = extras["all"]
    name, _, rest = included.partition("[")
    assert name == "anynet-zoo" and set(rest.rstrip("]").split(",")) == set(extras) - {"all", "test", "tensorflow"}


def _card(tmp_path, spec) -> str:
    zoo.save_pretrained(zoo.create(spec), tmp_path)
    return render_model_card(tmp_path, repo_id="org/tiny")


def test_the_model_card_names_the_pip_line_of_the_core(tmp_path):
    card = _card(tmp_path, TINY)
    assert "```bash\npip install anynet-zoo\n```" in card


def test_the_model_card_names_the_plugin_distribution_a_component_comes_from(tmp_path):
    card = _card(tmp_path, TINY.replace(block="se_resnext"))
    assert "```bash\npip install anynet-zoo zoo-se\n```" in card


class _RuntimePlugin:
    @kit.hookimpl
    def zoo_add_blocks(self):
        return [kit.Block("runtime_resnext", kit.ResNeXtBlock, kit.resnext_cost, "a copy registered at run time")]


def test_the_model_card_says_when_a_component_comes_from_no_distribution(tmp_path, fresh_plugins):
    zoo.register_plugin(_RuntimePlugin(), "runtime")
    card = _card(tmp_path, TINY.replace(block="runtime_resnext"))
    assert "```bash\npip install anynet-zoo\n```" in card
    assert "registered at run time" in card and "runtime\\_resnext" in card
