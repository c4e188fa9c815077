"""Analytic complexity equals the paper's published figures (pycls model zoo), exactly."""

from __future__ import annotations

import pytest
from contracts import param_count
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo

# (params, flops, acts) at 224x224 from pycls' dev/model_complexity.json.
PYCLS = {
    "regnetx_002": (2684792, 199040872, 2164056),
    "regnetx_004": (5157512, 397678568, 3143272),
    "regnetx_006": (6196040, 600891112, 3975096),
    "regnetx_008": (7259656, 799700712, 5148744),
    "regnetx_016": (9190136, 1602850792, 7933512),
    "regnetx_032": (15296552, 3176622952, 11367432),
    "regnetx_040": (22118248, 3964499816, 12201608),
    "regnetx_064": (26209256, 6460292264, 16369744),
    "regnetx_080": (39572648, 7995133416, 14059688),
    "regnetx_120": (46106056, 12086679016, 21366568),
    "regnetx_160": (54278536, 15940756456, 25515496),
    "regnetx_320": (107811560, 31735930792, 36302160),
    "regnety_002": (3162996, 199519076, 2168052),
    "regnety_004": (4344144, 401849056, 3892496),
    "regnety_006": (6055160, 601227608, 4334296),
    "regnety_008": (6263168, 797183328, 5249888),
    "regnety_016": (11202430, 1612087326, 8044814),
    "regnety_032": (19436338, 3176496162, 11263418),
    "regnety_040": (20646656, 3973301344, 12287200),
    "regnety_064": (30583252, 6355221876, 16407188),
    "regnety_080": (39180068, 7963074196, 17968916),
    "regnety_120": (51822544, 12092395504, 21384496),
    "regnety_160": (83590140, 15911534044, 23041228),
    "regnety_320": (145046770, 32279583362, 30261570),
}


@pytest.mark.parametrize("name", sorted(PYCLS))
def test_paper_models_match_published_complexity(name):
    cost = zoo.complexity(name, input_size=224)
    assert (cost["params"], cost["flops"], cost["acts"]) == PYCLS[name]


def test_aliases_count_the_same_model():
    assert zoo.complexity("RegNetX-3.2GF") == zoo.complexity("regnetx_032")


def test_seed_model_has_179290_params():
    assert zoo.complexity("regnetx32")["params"] == 179_290


def _built_params(spec):
    return param_count(nnx.eval_shape(lambda: zoo.create(spec)))


# Every registered model's analytic == built params: tests/test_contracts.py.
@settings(max_examples=25, deadline=None)
@given(
    depths=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    width_units=st.lists(st.integers(1, 6), min_size=3, max_size=3),
    group_width=st.sampled_from([4, 8, 16]),
    bias=st.booleans(),
    block=st.sampled_from(["resnext", "se_resnext"]),
)
def test_analytic_params_equal_built_params_for_sampled_specs(depths, width_units, group_width, bias, block):
    stages = tuple(zoo.StageSpec(d, u * group_width, group_width) for d, u in zip(depths, width_units))
    spec = zoo.ModelSpec(
        stages=stages, block=block, input_size=32, num_classes=7, options={"conv_bias": bias, "se_ratio": 0.25}
    )
    assert _built_params(spec) == zoo.complexity(spec)["params"]


def test_complexity_follows_input_size():
    small, large = zoo.complexity("regnetx_002", 112), zoo.complexity("regnetx_002", 224)
    assert small["params"] == large["params"] and small["flops"] < large["flops"]


def test_complexity_of_thousands_of_specs_is_fast():
    import time

    spec = zoo.get_spec("regnetx_032")
    start = time.perf_counter()
    for _ in range(1000):
        zoo.complexity(spec)
    assert time.perf_counter() - start < 10  # analytic: no model is built
