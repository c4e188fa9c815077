"""The contract suite: every registered stem, block, head, model, design rule and weight layout keeps
the zoo's contract, found at collection time from the plugin manager, so an installed plugin is
tested the moment it registers. The checks themselves live in tests/contracts.py; the last tests
here register components that break the contract and show the checks fail for them."""

from __future__ import annotations

import pytest
from contracts import (
    SAMPLE_BASE,
    abstract_model,
    check_component,
    check_layout,
    check_model_params,
    check_model_shrunk,
    check_round_trip,
    check_rule_samples,
    component_spec,
    layout_cases,
    quantile_bands,
    registered,
    tiny_spec,
)

import zoo
from zoo import plugin_kit as kit
from zoo.weights.state_file import state_shapes

STEMS, BLOCKS, HEADS = registered("stem"), registered("block"), registered("head")
MODELS = zoo.list_models()
SAMPLED_RULES = [name for name in registered("rule") if zoo.get_component("rule", name).sample is not None]
LAYOUTS = layout_cases(registered("layout"), BLOCKS)


@pytest.mark.parametrize("name", STEMS)
def test_every_stem_keeps_the_contract(name):
    check_component("stem", name)


@pytest.mark.parametrize("name", BLOCKS)
def test_every_block_keeps_the_contract(name):
    check_component("block", name)


@pytest.mark.parametrize("name", HEADS)
def test_every_head_keeps_the_contract(name):
    check_component("head", name)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_counts_the_params_it_builds(name):
    check_model_params(name)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_shrunk_keeps_the_contract(name):
    check_model_shrunk(name)


@pytest.mark.parametrize("block", BLOCKS)
def test_every_block_round_trips_save_and_load_bit_exact(block, tmp_path):
    check_round_trip(component_spec("block", block), tmp_path / block, f"block {block!r}")


@pytest.mark.parametrize("name", SAMPLED_RULES)
def test_every_design_rule_samples_inside_a_complexity_band(name):
    rule = zoo.get_component("rule", name)
    check_rule_samples(name, quantile_bands(rule, SAMPLE_BASE))


@pytest.mark.parametrize("layout, block", LAYOUTS, ids=[f"{layout}-{block}" for layout, block in LAYOUTS])
def test_every_weight_layout_converts_its_names_to_ours_without_leftovers(layout, block):
    check_layout(layout, component_spec("block", block or "resnext"), f"layout {layout!r} with block {block!r}")


# -- the checks are real: components that break the contract fail them ----------------------------
def forgets_the_projection(cost, in_channels, out_channels, stride, group_width, bottleneck_ratio, options):
    """The ResNeXt block's cost without its projected skip: the block builds params this does not count."""
    inner = kit.bottleneck_width(out_channels, bottleneck_ratio)
    cost = cost.conv(in_channels, inner, 1).norm(inner)
    cost = cost.conv(inner, inner, 3, stride=stride, groups=inner // group_width).norm(inner)
    return cost.conv(inner, out_channels, 1).norm(out_channels)


def claims_stride_one(cost, in_channels, out_channels, options):
    """The simple stem's cost as if it kept the resolution: its params are right, its size is not."""
    return kit.cifar_stem_cost(cost, in_channels, out_channels, options)


class BrokenPlugin:
    @kit.hookimpl
    def zoo_add_blocks(self):
        return [kit.Block("miscounted", kit.ResNeXtBlock, forgets_the_projection)]

    @kit.hookimpl
    def zoo_add_stems(self):
        return [kit.Stem("misplaced", kit.SimpleStem, claims_stride_one)]

    @kit.hookimpl
    def zoo_add_models(self):
        return {"miscounted_net": {"block": "miscounted", "design": {"rule": "anynet", "stages": [[2, 16, 8, 1.0, 2]]}}}


@pytest.fixture
def broken_plugin():
    name = zoo.register_plugin(BrokenPlugin(), "contracts-broken")
    yield name
    zoo.unregister_plugin(name)


def test_a_block_whose_cost_miscounts_params_fails_the_contract(broken_plugin):
    with pytest.raises(AssertionError, match=r"block 'miscounted'.* count .* params but the built model holds"):
        check_component("block", "miscounted")


def test_a_model_of_a_miscounting_block_fails_the_model_contract(broken_plugin):
    with pytest.raises(AssertionError, match=r"model 'miscounted_net'.* params"):
        check_model_params("miscounted_net")


def test_a_stem_whose_cost_misplaces_the_resolution_fails_the_contract(broken_plugin):
    with pytest.raises(AssertionError, match=r"stem 'misplaced'.*feature_info says reduction 1"):
        check_component("stem", "misplaced")


def test_the_abstract_build_holds_the_tensors_zoo_create_builds():
    spec = tiny_spec(block="resnext", input_size=32)
    assert state_shapes(abstract_model(spec)) == state_shapes(zoo.create(spec))
