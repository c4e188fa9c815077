"""ModelSpec / StageSpec: validation on construction and lossless serialization."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import ModelSpec, StageSpec
from zoo.errors import SpecError
from zoo.spec import BUILTIN_OPTIONS

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**31), 2**31),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=10),
)


@st.composite
def stage_specs(draw):
    group_width = draw(st.integers(1, 64))
    groups = draw(st.integers(1, 16))
    ratio = draw(st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]))
    inner = group_width * groups
    width = inner / ratio
    if width != int(width) or int(round(int(width) * ratio)) != inner:
        ratio, width = 1.0, inner
    return StageSpec(
        depth=draw(st.integers(1, 12)),
        width=int(width),
        group_width=group_width,
        bottleneck_ratio=ratio,
        stride=draw(st.sampled_from([1, 2])),
    )


@st.composite
def model_specs(draw):
    return ModelSpec(
        stages=tuple(draw(st.lists(stage_specs(), min_size=1, max_size=5))),
        stem=draw(names),
        stem_width=draw(st.integers(1, 256)),
        block=draw(names),
        head=draw(names),
        num_classes=draw(st.integers(1, 10_000)),
        in_channels=draw(st.integers(1, 16)),
        input_size=draw(st.integers(1, 512)),
        options=draw(st.dictionaries(names.filter(lambda n: n not in BUILTIN_OPTIONS), scalars, max_size=4)),
    )


@settings(max_examples=150, deadline=None)
@given(model_specs())
def test_dict_round_trip_is_lossless(spec):
    assert ModelSpec.from_dict(spec.to_dict()) == spec


@settings(max_examples=150, deadline=None)
@given(model_specs())
def test_json_round_trip_is_lossless(spec):
    assert ModelSpec.from_json(spec.to_json()) == spec


@settings(max_examples=150, deadline=None)
@given(model_specs())
def test_toml_round_trip_is_lossless(spec):
    again = ModelSpec.from_toml(spec.to_toml())
    assert again == spec
    assert hash(again) == hash(spec)


def test_specs_are_frozen():
    spec = ModelSpec(stages=(StageSpec(1, 8, 8),))
    with pytest.raises(AttributeError):
        spec.num_classes = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(depth=0, width=8, group_width=8), "depth must be >= 1"),
        (dict(depth=1, width=0, group_width=8), "width must be >= 1"),
        (dict(depth=1, width=8, group_width=0), "group_width must be >= 1"),
        (dict(depth=1, width=8, group_width=8, stride=3), "stride must be 1 or 2"),
        (dict(depth=1, width=8, group_width=8, bottleneck_ratio=0), "bottleneck_ratio must be > 0"),
        (dict(depth=1, width=80, group_width=16, bottleneck_ratio=0.25), "do not split into whole groups"),
        (dict(depth=1.5, width=8, group_width=8), "depth must be an integer"),
        (dict(depth=True, width=8, group_width=8), "depth must be an integer"),
    ],
)
def test_invalid_stage_names_the_field_and_rule(fields, message):
    with pytest.raises(SpecError, match=message):
        StageSpec(**fields)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(num_classes=-1), "num_classes must be an integer >= 0"),
        (dict(in_channels=-1), "in_channels must be a positive integer"),
        (dict(block=""), "block must be a component name"),
        (dict(stages=()), "stages must be a non-empty list"),
        (dict(options={"x": [1, 2]}), "options.x: option values must be"),
    ],
)
def test_invalid_model_spec_names_the_field(change, message):
    base = dict(stages=(StageSpec(1, 8, 8),))
    base.update(change)
    with pytest.raises(SpecError, match=message):
        ModelSpec(**base)


def test_from_dict_reports_where_a_stage_is_wrong():
    data = ModelSpec(stages=(StageSpec(1, 8, 8), StageSpec(1, 16, 8))).to_dict()
    data["stages"][1]["group_width"] = 5
    with pytest.raises(SpecError, match=r"stages\[1\].*group_width 5"):
        ModelSpec.from_dict(data)


def test_from_dict_rejects_unknown_fields():
    data = ModelSpec(stages=(StageSpec(1, 8, 8),)).to_dict()
    data["colour"] = "blue"
    with pytest.raises(SpecError, match="unknown field.*colour"):
        ModelSpec.from_dict(data)


def test_malformed_json_and_toml_raise_spec_errors():
    with pytest.raises(SpecError, match="not valid JSON"):
        ModelSpec.from_json("{nope")
    with pytest.raises(SpecError, match="not valid TOML"):
        ModelSpec.from_toml("stages = [")


def test_replace_rejects_unknown_fields():
    spec = ModelSpec(stages=(StageSpec(1, 8, 8),))
    assert spec.replace(num_classes=3).num_classes == 3
    with pytest.raises(SpecError, match="unknown ModelSpec field.*num_class"):
        spec.replace(num_class=3)
