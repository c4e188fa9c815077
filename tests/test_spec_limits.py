"""Hostile specs are refused on construction, with the field and the limit named, and the limits can be raised."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import ModelSpec, StageSpec
from zoo.errors import SpecError
from zoo.spec import LIMITS_ENV, SpecLimits, current_limits, spec_limits


def spec_dict(**stage) -> dict:
    return {"stages": [{"depth": 1, "width": 8, "group_width": 4, **stage}], "stem_width": 8, "num_classes": 3}


@pytest.mark.parametrize(
    "data, message",
    [
        (spec_dict(depth=100_000), r"stages\[0\]: StageSpec.depth 100000 exceeds the limit of 128"),
        (spec_dict(width=10**7, group_width=10**7), r"StageSpec.width 10000000 exceeds the limit of 16384"),
        (spec_dict(bottleneck_ratio=float("inf")), "bottleneck_ratio must be a finite number"),
        (spec_dict(bottleneck_ratio=float("nan")), "bottleneck_ratio must be a finite number"),
        (spec_dict(bottleneck_ratio=1e300), "bottleneck_ratio 1e\\+300 exceeds the limit"),
        ({**spec_dict(), "num_classes": 10**9}, "num_classes 1000000000 exceeds the limit of 100000"),
        ({**spec_dict(), "stem_width": 10**6}, "stem_width 1000000 exceeds the limit"),
        ({**spec_dict(), "input_size": 10**6}, "input_size 1000000 exceeds the limit"),
        ({**spec_dict(), "in_channels": 10**5}, "in_channels 100000 exceeds the limit"),
        ({**spec_dict(), "stages": [{"depth": 1, "width": 8, "group_width": 4}] * 17}, "number of stages 17"),
        ({**spec_dict(), "stages": [{"depth": 100, "width": 8, "group_width": 4}] * 5}, "total depth 500"),
        ({**spec_dict(), "options": {"bn_momentum": "fast"}}, "options.bn_momentum must be a number between 0"),
        ({**spec_dict(), "options": {"bn_eps": -1.0}}, "options.bn_eps must be a number"),
        ({**spec_dict(), "options": {"conv_bias": 1}}, "options.conv_bias must be true or false"),
        ({**spec_dict(), "options": {"se_ratio": float("inf")}}, "options.se_ratio: option values must be finite"),
    ],
)
def test_hostile_specs_are_refused_naming_field_and_limit(data, message):
    start = time.perf_counter()
    with pytest.raises(SpecError, match=message) as info:
        ModelSpec.from_dict(data)
    assert time.perf_counter() - start < 5
    if "exceeds" in message:
        assert LIMITS_ENV in str(info.value) and "spec_limits(" in str(info.value)


def test_json_infinity_is_a_spec_error_not_an_overflow():
    text = '{"stages": [{"depth": 1, "width": 8, "group_width": 4, "bottleneck_ratio": Infinity}]}'
    with pytest.raises(SpecError, match="finite"):
        ModelSpec.from_json(text)


def test_the_paper_models_fit_the_default_limits_with_room():
    import zoo

    limits = current_limits()
    names = zoo.list_models("regnet[xy]_*")
    assert len(names) == 24
    specs = [zoo.registry.get_spec(n) for n in names]
    assert max(sum(s.depths) for s in specs) * 4 <= limits.blocks
    assert max(max(s.depths) for s in specs) * 4 <= limits.depth
    assert max(max(s.widths) for s in specs) * 4 <= limits.width


def test_limits_can_be_raised_by_context_and_by_environment(monkeypatch):
    big = spec_dict(depth=200)
    with pytest.raises(SpecError):
        ModelSpec.from_dict(big)
    with spec_limits(depth=200) as limits:
        assert ModelSpec.from_dict(big).depths == [200] and limits.depth == 200
    with pytest.raises(SpecError):
        ModelSpec.from_dict(big)
    monkeypatch.setenv(LIMITS_ENV, "depth=200, width=32")
    assert ModelSpec.from_dict(big).depths == [200]
    with pytest.raises(SpecError, match="limit of 32"):
        ModelSpec.from_dict(spec_dict(width=64))
    monkeypatch.setenv(LIMITS_ENV, "depht=100")
    with pytest.raises(SpecError, match="ZOO_SPEC_LIMITS: cannot read 'depht=100'"):
        ModelSpec.from_dict(big)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([f.name for f in SpecLimits.__dataclass_fields__.values()]), st.integers(1, 1000))
def test_a_value_at_the_limit_passes_and_one_past_it_fails(name, limit):
    def spec(value: int) -> dict:
        data = {**spec_dict(width=1, group_width=1), "stem_width": 1}
        stage = data["stages"][0]
        if name in ("depth", "width"):
            stage[name] = value
            stage["group_width"] = 1
        elif name == "bottleneck_ratio":
            stage.update(width=1, group_width=1, bottleneck_ratio=float(value))
        elif name == "blocks":
            data["stages"] = [{"depth": 1, "width": 1, "group_width": 1}] * value
        elif name == "stages":
            data["stages"] = [{"depth": 1, "width": 1, "group_width": 1}] * value
        else:
            data[name] = value
        return data

    generous = {n: 10**6 for n in SpecLimits.__dataclass_fields__}
    with spec_limits(**{**generous, name: limit}):
        ModelSpec.from_dict(spec(limit))
        with pytest.raises(SpecError, match="exceeds the limit"):
            ModelSpec.from_dict(spec(limit + 1))


def test_stage_spec_refuses_before_any_arithmetic():
    with pytest.raises(SpecError):
        StageSpec(depth=1, width=8, group_width=8, bottleneck_ratio=math.inf)


@pytest.mark.parametrize(
    "parse, text", [(ModelSpec.from_json, "[" * 100_000), (ModelSpec.from_toml, "a=" + "[" * 100_000)]
)
def test_deeply_nested_text_is_a_spec_error(parse, text):
    with pytest.raises(SpecError, match="nests too deeply"):
        parse(text)
