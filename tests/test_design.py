"""Design rules: the anynet tuples and the regnet quantized linear rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import StageSpec, get_spec
from zoo.design import expand_anynet, expand_regnet, regnet_block_widths, regnet_stages
from zoo.errors import SpecError

# Per-stage (depths, widths) of the paper's models as published with its reference code.
PUBLISHED_STAGES = {
    "regnetx_002": ([1, 1, 4, 7], [24, 56, 152, 368]),
    "regnetx_032": ([2, 6, 15, 2], [96, 192, 432, 1008]),
    "regnetx_320": ([2, 7, 13, 1], [336, 672, 1344, 2520]),
    "regnety_032": ([2, 5, 13, 1], [72, 216, 576, 1512]),
    "regnety_320": ([2, 5, 12, 1], [232, 696, 1392, 3712]),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_STAGES))
def test_regnet_rule_gives_the_published_stages(name):
    spec = get_spec(name)
    assert (spec.depths, spec.widths) == PUBLISHED_STAGES[name]


def test_seed_tuples_expand_in_order():
    stages = expand_anynet({"stages": [[4, 32, 16, 1], [6, 80, 16, 1]]})
    assert stages == [StageSpec(4, 32, 16, 1.0, 2), StageSpec(6, 80, 16, 1.0, 2)]
    assert [s.groups for s in stages] == [2, 5]


def test_anynet_accepts_tables_and_strides():
    stages = expand_anynet({"stages": [{"depth": 1, "width": 8, "group_width": 8, "stride": 1}, [2, 16, 8, 1, 2]]})
    assert [s.stride for s in stages] == [1, 2]


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "'stages' must be a non-empty list"),
        ({"stages": [[1, 2]]}, r"stages\[0\]: expected"),
        ({"stages": [[1, 80, 16, 0.25]]}, r"stages\[0\].*whole groups"),
        ({"stages": [[1, 8, 8]], "extra": 1}, "unknown parameter"),
    ],
)
def test_anynet_rule_errors_say_where(params, message):
    with pytest.raises(SpecError, match=message):
        expand_anynet(params)


def test_regnet_rounds_half_to_even():
    # u_j / w0 = 1 + j*wa/w0 hits wm^0.5 exactly when wa chosen so; np.round(0.5) == 0.
    widths = regnet_block_widths(w0=8, wa=8 * (2.25**0.5 - 1), wm=2.25, depth=2)
    assert widths == [8, 8]


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(w0=24, wa=36.44, wm=2.49, group_w=8), r"missing parameter.*depth"),
        (dict(w0=24, wa=36.44, wm=2.49, depth=13, group_w=8, colour=1), "unknown parameter"),
        (dict(w0=25, wa=36.44, wm=2.49, depth=13, group_w=8), "w0 a multiple of q"),
        (dict(w0=24, wa=36.44, wm=1.0, depth=13, group_w=8), "wm > 1"),
    ],
)
def test_regnet_rule_rejects_bad_parameters(params, message):
    with pytest.raises(SpecError, match=message):
        expand_regnet(params)


@settings(max_examples=200, deadline=None)
@given(
    w0=st.integers(1, 32).map(lambda k: 8 * k),
    wa=st.floats(0, 256, allow_nan=False),
    wm=st.floats(1.5, 3.0),
    depth=st.integers(1, 40),
    group_w=st.sampled_from([1, 2, 4, 8, 16, 24, 32, 48, 64]),
)
def test_regnet_rule_always_gives_valid_stages(w0, wa, wm, depth, group_w):
    stages = expand_regnet(dict(w0=w0, wa=wa, wm=wm, depth=depth, group_w=group_w))
    assert sum(s.depth for s in stages) == depth
    widths = [s.width for s in stages]
    assert widths == sorted(widths)  # non-decreasing (the group adjustment may merge two widths, as in pycls)
    for s in stages:
        assert s.width % s.group_width == 0  # whole groups (bottleneck ratio 1)


def test_regnet_stages_group_equal_block_widths():
    widths, depths = regnet_stages(24, 36.44, 2.49, 13)
    assert sum(depths) == 13 and widths == sorted(widths)
