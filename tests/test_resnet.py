"""The zoo-resnet plugin: published complexity, real parameter counts, shapes, forward passes."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from contracts import param_count
from flax import nnx

import zoo
import zoo.plugins
from zoo.errors import SpecError
from zoo.summary import layer_shapes

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "zoo-resnet"

# params, flops (multiply-accumulates) at 224x224: torchvision's model docs and pycls'
# dev/model_complexity.json (R-50-1x64d, which also gives the activations).
PUBLISHED = {
    "resnet18": {"params": 11_689_512, "flops": 1_814_074_344},
    "resnet34": {"params": 21_797_672, "flops": 3_663_762_408},
    "resnet50": {"params": 25_557_032, "flops": 4_089_185_256, "acts": 11_315_688},
    "resnext50_32x4d": {"params": 25_028_904, "flops": 4_230_480_872},
}


@pytest.fixture(autouse=True)
def resnet_plugin(monkeypatch):
    """zoo-resnet loaded whether or not it is pip-installed (ZOO_PLUGINS names its module)."""
    if importlib.util.find_spec("zoo_resnet") is None:
        monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.setenv("ZOO_PLUGINS", "zoo_resnet")
    zoo.plugins.reset()
    yield
    zoo.plugins.reset()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_analytic_complexity_equals_published_figures(name):
    cost = zoo.complexity(name)
    assert {k: cost[k] for k in PUBLISHED[name]} == PUBLISHED[name]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_built_model_has_exactly_the_counted_parameters(name):
    model = nnx.eval_shape(lambda: zoo.create(name))
    assert param_count(model) == PUBLISHED[name]["params"]


def test_resnet50_layer_shapes_follow_the_4x_stem_and_stride_1_first_stage():
    shapes = [shape for _, _, shape in layer_shapes("resnet50", (1, 224, 224, 3))]
    assert shapes == [
        (1, 56, 56, 64),
        (1, 56, 56, 256),
        (1, 28, 28, 512),
        (1, 14, 14, 1024),
        (1, 7, 7, 2048),
        (1, 1000),
    ]


def test_resnext50_uses_32_groups_in_every_stage():
    model = nnx.eval_shape(lambda: zoo.create("resnext50_32x4d"))
    assert [stage.blocks[0].conv2.feature_group_count for stage in model.stages] == [32, 32, 32, 32]


def narrowed(spec: zoo.ModelSpec, factor: int = 8) -> zoo.ModelSpec:
    """The same blocks, stem and depths with 1/factor of the channels: a fast forward pass."""
    stages = [
        dataclasses.replace(s, width=s.width // factor, group_width=max(1, s.group_width // factor))
        for s in spec.stages
    ]
    return spec.replace(stem_width=spec.stem_width // factor, stages=stages, num_classes=7)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_forward_pass_on_a_tiny_input_gives_finite_logits(name):
    model = zoo.load(narrowed(zoo.get_spec(name)))
    model.eval()
    x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
    logits = model(x)
    assert logits.shape == (2, 7)
    assert bool(jnp.all(jnp.isfinite(logits)))


def test_stem_halves_twice_with_a_padded_max_pool():
    stem = zoo.plugins.manager().get("stem", "resnet").build(3, 8, {}, rngs=nnx.Rngs(0))
    stem.eval()
    assert stem(jnp.ones((1, 33, 33, 3))).shape == (1, 9, 9, 8)


def test_basic_block_refuses_groups_or_a_bottleneck_with_a_clear_error():
    spec = zoo.get_spec("resnet18")
    bad = spec.replace(stages=[zoo.StageSpec(depth=1, width=64, group_width=32, bottleneck_ratio=1.0)])
    with pytest.raises(SpecError, match="group_width = 64 and bottleneck_ratio = 1.0"):
        zoo.complexity(bad)


def test_resnet_models_are_listed_with_their_plugin_as_source():
    from zoo.registry import registry

    entry = registry().resolve("ResNet-50")
    assert entry.name == "resnet50"
    assert entry.plugin in {"resnet", "zoo_resnet"}
