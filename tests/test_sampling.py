"""Sampling design spaces: the RegNet sampler, complexity bands, and reproducible rejection sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo
from zoo.design.regnet import regnet_stages
from zoo.design.sampling import (
    REGNET_RANGES,
    Band,
    draw_in_band,
    draw_many,
    parse_band,
    sample_regnet,
    spec_from_params,
)
from zoo.errors import SamplingError
from zoo.spec import ModelSpec, StageSpec

BASE = ModelSpec(stages=(StageSpec(1, 8, 8),), stem_width=16, num_classes=10, in_channels=1, input_size=16)
SPACES = ["regnet", "anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e"]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rule(name):
    return zoo.get_component("rule", name)


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_regnet_sampler_stays_in_the_papers_ranges_with_four_stages(seed):
    params = sample_regnet(seed)
    assert REGNET_RANGES["depth"][0] <= params["depth"] <= REGNET_RANGES["depth"][1]
    assert params["w0"] % 8 == 0 and 8 <= params["w0"] <= 256
    assert 8.0 <= params["wa"] <= 256.0 and round(params["wa"], 2) == params["wa"]
    assert 1.5 <= params["wm"] <= 3.0 and round(params["wm"], 2) == params["wm"]
    assert params["group_w"] in REGNET_RANGES["group_w"] and params["bot_mul"] in REGNET_RANGES["bot_mul"]
    widths, depths = regnet_stages(params["w0"], params["wa"], params["wm"], params["depth"])
    assert len(widths) == 4 and sum(depths) == params["depth"]


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_regnet_samples_expand_to_valid_specs_with_increasing_widths(seed):
    spec = spec_from_params(rule("regnet"), sample_regnet(seed), BASE)
    assert len(spec.stages) == 4
    assert spec.widths == sorted(spec.widths) and len(set(spec.widths)) == 4
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_the_core_regnet_rule_carries_the_sampler():
    assert rule("regnet").sample is sample_regnet


@FAST
@given(seed=st.integers(0, 2**16), index=st.integers(0, 1000), space=st.sampled_from(SPACES))
def test_samples_hold_the_band_and_the_spaces_constraints(seed, index, space):
    bands = (parse_band("4M:10M", "flops"), parse_band(":3M", "params"))
    sample = draw_in_band(rule(space), BASE, seed, index, bands, plugins=zoo.plugins.manager())
    cost = zoo.complexity(sample.spec)
    assert cost == sample.complexity
    assert 4e6 <= cost["flops"] <= 10e6 and cost["params"] <= 3e6
    stages = sample.spec.stages
    assert sample.spec.replace(stages=tuple(rule(space).expand(sample.params))) == sample.spec
    if space != "regnet":
        assert len(stages) == 4 and all(s.depth <= 16 and s.width <= 1024 and s.width % 8 == 0 for s in stages)
    if space in ("anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnet"):
        assert len({s.bottleneck_ratio for s in stages}) == 1
    if space in ("anynetx_c", "anynetx_d", "anynetx_e"):
        assert len({s.group_width for s in stages}) == 1
    if space in ("anynetx_d", "anynetx_e", "regnet"):
        assert sample.spec.widths == sorted(sample.spec.widths)
    if space == "anynetx_e":
        assert sample.spec.depths == sorted(sample.spec.depths)


@FAST
@given(seed=st.integers(0, 2**32 - 1), space=st.sampled_from(SPACES))
def test_the_same_seed_gives_the_same_samples(seed, space):
    band = (parse_band("2M:20M"),)
    first = draw_many(rule(space), BASE, seed, 3, band, plugins=zoo.plugins.manager())
    again = draw_many(rule(space), BASE, seed, 3, band, plugins=zoo.plugins.manager())
    assert [(s.params, s.spec) for s in first] == [(s.params, s.spec) for s in again]


def test_a_draw_does_not_depend_on_the_draws_before_it():
    many = draw_many(rule("anynetx_a"), BASE, 7, 5, (parse_band("4M:10M"),), plugins=zoo.plugins.manager())
    alone = draw_in_band(rule("anynetx_a"), BASE, 7, 3, (parse_band("4M:10M"),), plugins=zoo.plugins.manager())
    assert many[3].params == alone.params and [s.index for s in many] == [0, 1, 2, 3, 4]


def test_different_seeds_give_different_samples():
    a = draw_many(rule("regnet"), BASE, 0, 5, plugins=zoo.plugins.manager())
    b = draw_many(rule("regnet"), BASE, 1, 5, plugins=zoo.plugins.manager())
    assert [s.params for s in a] != [s.params for s in b]


def test_sampler_accepts_a_generator_and_advances_it():
    rng = np.random.default_rng(3)
    assert sample_regnet(rng) != sample_regnet(rng)
    with pytest.raises(SamplingError, match="Generator or an int seed"):
        sample_regnet("three")


@pytest.mark.parametrize(
    "text, low, high",
    [
        ("360M:400M", 360e6, 400e6),
        ("2.5e6:3e6", 2.5e6, 3e6),
        ("200K:", 200e3, None),
        (":1.5G", None, 1.5e9),
        ("100:200", 100, 200),
        (" 1m : 2M ", 1e6, 2e6),
    ],
)
def test_band_syntax(text, low, high):
    band = parse_band(text)
    assert (band.low, band.high) == (low, high)


@pytest.mark.parametrize(
    "text, said",
    [
        ("400M", "LOW:HIGH"),
        ("1:2:3", "LOW:HIGH"),
        ("abc:4M", "not a number"),
        ("4M:1M", "low end is above"),
        ("1T:2T", "not a number"),
    ],
)
def test_bad_bands_say_what_is_wrong(text, said):
    with pytest.raises(SamplingError, match=said):
        parse_band(text, "flops")


def test_band_membership_is_closed_and_open_ends_are_unbounded():
    assert 5 in Band("flops", 5, 10) and 10 in Band("flops", 5, 10) and 11 not in Band("flops", 5, 10)
    assert 10**12 in Band("flops", 5, None) and 0 in Band("flops", None, 5)


def test_an_unreachable_band_fails_with_advice():
    with pytest.raises(SamplingError, match="widen the band"):
        draw_in_band(rule("anynetx_a"), BASE, 0, 0, (parse_band("1:2"),), max_tries=50, plugins=zoo.plugins.manager())


def test_a_rule_without_a_sampler_cannot_be_swept():
    with pytest.raises(SamplingError, match="has no sampler"):
        draw_in_band(rule("anynet"), BASE, 0, 0, plugins=zoo.plugins.manager())
