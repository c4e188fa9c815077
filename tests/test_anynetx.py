"""The zoo-anynetx plugin: AnyNetX_A..E as design rules whose samplers always give valid models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
import zoo.plugins
from zoo import plugin_kit as kit
from zoo.errors import SpecError

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "zoo-anynetx"
NAMES = ["anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e"]
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.fixture(autouse=True, scope="module")
def anynetx_plugin():
    """zoo-anynetx loaded whether or not it is pip-installed (ZOO_PLUGINS names its module)."""
    mp = pytest.MonkeyPatch()
    if importlib.util.find_spec("zoo_anynetx") is None:
        mp.syspath_prepend(str(PLUGIN_DIR))
    mp.setenv("ZOO_PLUGINS", "zoo_anynetx")
    zoo.plugins.reset()
    yield
    mp.undo()
    zoo.plugins.reset()


def rule(name: str) -> kit.DesignRule:
    return zoo.plugins.manager().get("rule", name)


def in_paper_ranges(params: dict, name: str) -> bool:
    """The paper's constraints, written out independently of the plugin's own checks."""
    d, w, b, g = params["d"], params["w"], params["b"], params["g"]
    ok = all(len(v) == 4 for v in (d, w, b, g))
    ok &= all(1 <= x <= 16 for x in d) and all(8 <= x <= 1024 and x % 8 == 0 for x in w)
    ok &= set(b) <= {1, 2, 4} and set(g) <= {1, 2, 4, 8, 16, 32}
    ok &= all((wi // bi) % gi == 0 and wi % bi == 0 for wi, bi, gi in zip(w, b, g))
    level = NAMES.index(name)
    if level >= 1:
        ok &= len(set(b)) == 1
    if level >= 2:
        ok &= len(set(g)) == 1
    if level >= 3:
        ok &= w == sorted(w)
    if level >= 4:
        ok &= d == sorted(d)
    return bool(ok)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, name=st.sampled_from(NAMES))
def test_every_sample_is_a_valid_model_of_its_space(seed, name):
    params = rule(name).sample(seed)
    assert in_paper_ranges(params, name)
    stages = rule(name).expand(params)
    spec = zoo.ModelSpec(stages=stages)  # the X block: 1x1, grouped 3x3, 1x1
    assert spec.depths == params["d"] and spec.widths == params["w"]
    assert [s.bottleneck_width for s in stages] == [wi // bi for wi, bi in zip(params["w"], params["b"])]
    assert zoo.complexity(spec)["params"] > 0


@settings(max_examples=30, deadline=None)
@given(seed=seeds)
def test_the_spaces_are_nested_so_an_e_sample_lies_in_every_space(seed):
    params = rule("anynetx_e").sample(seed)
    for name in NAMES:
        assert rule(name).expand(params)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, name=st.sampled_from(NAMES))
def test_sampling_is_reproducible_from_a_seed_or_a_generator(seed, name):
    assert rule(name).sample(seed) == rule(name).sample(seed)
    first, second = np.random.default_rng(seed), np.random.default_rng(seed)
    assert [rule(name).sample(first) for _ in range(3)] == [rule(name).sample(second) for _ in range(3)]


@pytest.mark.parametrize("name", NAMES)
def test_samples_cover_the_paper_ranges(name):
    rng = np.random.default_rng(0)
    draws = [rule(name).sample(rng) for _ in range(3000)]
    assert {x for p in draws for x in p["b"]} == {1, 2, 4}
    assert {x for p in draws for x in p["g"]} == {1, 2, 4, 8, 16, 32}
    assert {x for p in draws for x in p["d"]} == set(range(1, 17))
    widths = {x for p in draws for x in p["w"]}
    assert min(widths) == 8 and max(widths) == 1024
    assert len({tuple(map(tuple, p.values())) for p in draws}) == len(draws)  # no repeats: a huge space


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("anynetx_a", {"d": [1, 2, 3], "w": [8] * 4, "b": [1] * 4, "g": [1] * 4}, "list of 4 integers"),
        ("anynetx_a", {"d": [17, 1, 1, 1], "w": [8] * 4, "b": [1] * 4, "g": [1] * 4}, r"value\(s\) \[17\]"),
        ("anynetx_a", {"d": [1] * 4, "w": [12, 8, 8, 8], "b": [1] * 4, "g": [1] * 4}, "multiples of 8"),
        ("anynetx_a", {"d": [1] * 4, "w": [8] * 4, "b": [3, 1, 1, 1], "g": [1] * 4}, r"value\(s\) \[3\]"),
        ("anynetx_a", {"d": [1] * 4, "w": [8] * 4, "b": [4, 1, 1, 1], "g": [4, 1, 1, 1]}, "multiple of b\\*g = 16"),
        ("anynetx_b", {"d": [1] * 4, "w": [8] * 4, "b": [1, 2, 1, 1], "g": [1] * 4}, "share one bottleneck ratio"),
        ("anynetx_c", {"d": [1] * 4, "w": [8] * 4, "b": 1, "g": [1, 2, 1, 1]}, "share one group width"),
        ("anynetx_d", {"d": [1] * 4, "w": [16, 8, 8, 8], "b": 1, "g": 1}, "widths must be non-decreasing"),
        ("anynetx_e", {"d": [2, 1, 1, 1], "w": [8] * 4, "b": 1, "g": 1}, "depths must be non-decreasing"),
        ("anynetx_e", {"d": [1] * 4, "w": [8] * 4, "b": 1}, r"missing \['g'\]"),
    ],
)
def test_params_outside_a_space_are_refused_with_the_broken_constraint(name, params, message):
    with pytest.raises(SpecError, match=message):
        rule(name).expand(params)


def test_a_shared_b_and_g_may_be_given_once():
    stages = rule("anynetx_c").expand({"d": [1, 2, 3, 4], "w": [32, 64, 96, 128], "b": 2, "g": 16})
    assert [s.group_width for s in stages] == [16] * 4
    assert [s.bottleneck_ratio for s in stages] == [0.5] * 4


def test_a_registry_entry_can_name_an_anynetx_rule():
    from zoo.registry import Entry

    entry = Entry(
        "my_anynetx_e",
        "test",
        {"design": {"rule": "anynetx_e", "d": [1, 1, 2, 4], "w": [32, 64, 128, 256], "b": 1, "g": 16}},
    )
    assert entry.spec().widths == [32, 64, 128, 256]


def test_the_rules_and_their_samplers_are_listed_as_the_plugins_contribution():
    manager = zoo.plugins.manager()
    provider = manager.provider("rule", "anynetx_a")
    assert manager.infos[provider].contributes["rule"] == NAMES
    assert all(callable(rule(name).sample) for name in NAMES)


def test_a_bad_rng_is_refused():
    with pytest.raises(SpecError, match="numpy.random.Generator or an int seed"):
        rule("anynetx_a").sample("seed")


def test_numpy_integers_are_accepted_as_params():
    params = {k: np.asarray(v) for k, v in rule("anynetx_a").sample(3).items()}
    assert [type(s.depth) for s in rule("anynetx_a").expand({k: list(v) for k, v in params.items()})] == [int] * 4
