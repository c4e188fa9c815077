"""`zoo.load` is told what it gets: every source kind it accepts, and every error it gives.

A plain string is a registry name (optionally `name.tag`); `hf-hub:` and `local-dir:` are sources by
prefix; a weights file comes by keyword (`checkpoint_path=`); `pretrained` is a bool or a tag name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import zoo
from zoo import plugin_kit as kit
from zoo.api import cli_source
from zoo.errors import PretrainedError, UnknownModelError, WeightsFormatError
from zoo.weights.adapt import PretrainedAdaptationWarning
from zoo.weights.config import DataConfig
from zoo.weights.state_file import state_arrays

TINY = {
    "description": "a tiny model for the load tests",
    "aliases": ["API-Tiny"],
    "stages": [{"depth": 1, "width": 8, "group_width": 4}],
    "stem_width": 8,
    "num_classes": 3,
    "in_channels": 1,
    "input_size": 32,
}


class TinyModels:
    """Registers `api_tiny` (two tags, one in a layout nobody registers) and `api_untagged`."""

    @kit.hookimpl
    def zoo_add_models(self):
        tags = {
            "main": {"hub_id": "org/api-tiny", "default": True},
            "odd": {"hub_id": "org/api-tiny", "layout": "keras"},
        }
        return {"api_tiny": {**TINY, "pretrained": tags}, "api_untagged": dict(TINY, aliases=[])}


@pytest.fixture
def tiny(fresh_plugins):
    zoo.register_plugin(TinyModels(), "api-tiny-models")
    return zoo.get_spec("api_tiny")


@pytest.fixture
def published(tiny, hub):
    """api_tiny's weights pushed to the loopback Hub repo its default tag names; (model, commit)."""
    model = zoo.create(tiny, seed=4)
    return model, zoo.push_to_hub(model, "org/api-tiny", commit_message="tiny weights")


@pytest.fixture
def folder(tiny, tmp_path):
    """A save_pretrained folder of api_tiny; (model, folder)."""
    model = zoo.create(tiny, seed=7)
    return model, zoo.save_pretrained(model, tmp_path / "saved")


def same_weights(a, b) -> bool:
    sa, sb = state_arrays(a), state_arrays(b)
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


# -- the sources ----------------------------------------------------------------------------------


def test_a_name_or_alias_without_pretrained_is_a_seeded_random_init(tiny):
    assert same_weights(zoo.load("api_tiny", seed=2), zoo.create(tiny, seed=2))
    assert same_weights(zoo.load("API-Tiny", seed=2), zoo.create(tiny, seed=2))
    assert not same_weights(zoo.load("api_tiny", seed=2), zoo.create(tiny, seed=3))


def test_a_spec_builds_that_spec(tiny):
    assert zoo.load(tiny.replace(num_classes=5)).spec.num_classes == 5


def test_pretrained_true_a_tag_name_or_name_dot_tag_fetch_the_tag(published):
    model, _ = published
    for loaded in (
        zoo.load("api_tiny", pretrained=True),
        zoo.load("api_tiny", pretrained="main"),
        zoo.load("api_tiny.main", pretrained=True),
        zoo.load("api_tiny.main", pretrained="main"),
    ):
        assert same_weights(loaded, model)


def test_hf_hub_loads_a_repo_at_a_revision(published):
    model, commit = published
    newer = zoo.create("api_tiny", seed=9)
    zoo.push_to_hub(newer, "org/api-tiny", commit_message="newer")
    assert same_weights(zoo.load("hf-hub:org/api-tiny"), newer)
    assert same_weights(zoo.load(f"hf-hub:org/api-tiny@{commit}"), model)


def test_local_dir_loads_a_saved_folder(folder):
    model, path = folder
    assert same_weights(zoo.load(f"local-dir:{path}"), model)
    with pytest.warns(PretrainedAdaptationWarning, match="freshly initialised"):
        assert zoo.load(f"local-dir:{path}", num_classes=6).spec.num_classes == 6


def test_checkpoint_path_loads_a_file_by_name_by_spec_or_from_its_metadata(folder, tiny):
    model, path = folder
    weights = path / "model.safetensors"
    for loaded in (
        zoo.load("api_tiny", checkpoint_path=weights),
        zoo.load(tiny, checkpoint_path=str(weights)),
        zoo.load(checkpoint_path=weights),
    ):
        assert same_weights(loaded, model)


def test_the_command_line_takes_a_bare_folder_and_leaves_everything_else_as_written(folder, tmp_path, monkeypatch):
    _, path = folder
    assert cli_source(str(path)) == f"local-dir:{path}"
    assert cli_source("api_tiny") == "api_tiny"
    assert cli_source("hf-hub:org/api-tiny") == "hf-hub:org/api-tiny"
    monkeypatch.chdir(tmp_path)
    Path("api_tiny").mkdir()  # a folder named like a model: the registry name wins
    assert cli_source("api_tiny") == "api_tiny"


def test_download_fetches_a_tag_or_a_repo_into_the_cache(published):
    by_tag = zoo.download("api_tiny.main")
    by_repo = zoo.download("hf-hub:org/api-tiny")
    assert by_tag.read_bytes() == by_repo.read_bytes()
    with pytest.raises(UnknownModelError, match="nothing to download"):
        zoo.download("local-dir:somewhere")


# -- names that are no model ----------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(repo=st.from_regex(r"[a-z][a-z0-9-]{0,10}/[a-z][a-z0-9_.-]{0,15}", fullmatch=True))
def test_a_repo_shaped_name_suggests_hf_hub(repo):
    assume(not Path(repo).exists() and not repo.endswith(".safetensors"))  # those name local paths
    with pytest.raises(UnknownModelError) as caught:
        zoo.load(repo)
    assert f"'hf-hub:{repo}'" in str(caught.value)


def test_timm_repo_name_suggests_its_hf_hub_spelling():
    with pytest.raises(UnknownModelError, match=r"'hf-hub:timm/regnetx_032'"):
        zoo.load("timm/regnetx_032")


def test_a_folder_or_file_given_as_a_name_says_how_to_spell_it(folder):
    _, path = folder
    with pytest.raises(UnknownModelError, match=f"'local-dir:{path}'"):
        zoo.load(str(path))
    with pytest.raises(UnknownModelError, match="checkpoint_path="):
        zoo.load(str(path / "model.safetensors"))
    with pytest.raises(UnknownModelError, match="local-dir:PATH"):
        zoo.load(path)  # a Path is no name either
    with pytest.raises(UnknownModelError, match="local-dir:PATH"):
        zoo.load()


def test_unknown_names_and_tags_suggest_the_nearest(tiny):
    with pytest.raises(UnknownModelError, match="Did you mean: api_tiny"):
        zoo.load("api_tiyn")
    with pytest.raises(UnknownModelError, match="nor is 'api_tiyn' a model with a tag 'main'"):
        zoo.load("api_tiyn.main", pretrained=True)
    with pytest.raises(PretrainedError, match="no pretrained tag 'mian'.*Did you mean: main"):
        zoo.load("api_tiny", pretrained="mian")
    with pytest.raises(PretrainedError, match="no pretrained weights are published for 'api_untagged'"):
        zoo.load("api_untagged", pretrained=True)


# -- pretrained is a bool or a tag ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["weights/model.safetensors", "model.safetensors", Path("m.safetensors"), 1, ""])
def test_pretrained_is_only_a_bool_or_a_tag_name(tiny, value):
    with pytest.raises(PretrainedError, match="checkpoint_path="):
        zoo.load("api_tiny", pretrained=value)


def test_a_tag_with_pretrained_false_or_another_tag_is_refused(tiny):
    with pytest.raises(PretrainedError, match="pretrained=True for its weights, or the bare name 'api_tiny'"):
        zoo.load("api_tiny.main")
    with pytest.raises(PretrainedError, match="names tag 'main' but pretrained='odd'"):
        zoo.load("api_tiny.main", pretrained="odd")


def test_a_spec_has_no_published_weights(tiny):
    with pytest.raises(PretrainedError, match="checkpoint_path="):
        zoo.load(tiny, pretrained=True)


def test_a_tag_in_an_unregistered_layout_fails_before_any_download(tiny, hub):
    before = len(hub.state.requests)
    with pytest.raises(WeightsFormatError, match="unknown weights layout 'keras'.*zoo_add_weight_layouts"):
        zoo.load("api_tiny", pretrained="odd")
    assert hub.state.requests[before:] == []


# -- sources hold their own weights ---------------------------------------------------------------


@pytest.mark.parametrize("source", ["hf-hub:org/api-tiny", "local-dir:somewhere"])
def test_a_source_takes_no_pretrained(source):
    with pytest.raises(PretrainedError, match="holds its own weights"):
        zoo.load(source, pretrained=True)


@pytest.mark.parametrize(
    "source, error, message",
    [
        ("hf-hub:", "HubReferenceError", "names no repo"),
        ("hf-hub:tiny", "HubReferenceError", "hf-hub:org/repo"),
        ("local-dir:", "UnknownModelError", "names no folder"),
    ],
)
def test_a_malformed_source_says_its_form(source, error, message):
    with pytest.raises(getattr(zoo.errors, error), match=message):
        zoo.load(source)


def test_local_dir_must_be_a_folder_with_weights(tmp_path, folder):
    _, path = folder
    with pytest.raises(WeightsFormatError, match="is not a folder"):
        zoo.load(f"local-dir:{tmp_path / 'missing'}")
    with pytest.raises(WeightsFormatError, match="is not a folder"):
        zoo.load(f"local-dir:{path / 'model.safetensors'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsFormatError, match="save_pretrained"):
        zoo.load(f"local-dir:{tmp_path / 'empty'}")


def test_checkpoint_path_goes_with_a_name_or_spec_only(folder, tmp_path):
    _, path = folder
    weights = path / "model.safetensors"
    with pytest.raises(PretrainedError, match="not both"):
        zoo.load("api_tiny", pretrained=True, checkpoint_path=weights)
    with pytest.raises(PretrainedError, match=f"'local-dir:{path}'"):
        zoo.load("api_tiny", checkpoint_path=path)
    with pytest.raises(PretrainedError, match="goes with a name or spec"):
        zoo.load(f"local-dir:{path}", checkpoint_path=weights)
    with pytest.raises(PretrainedError, match="names tag 'main' and checkpoint_path="):
        zoo.load("api_tiny.main", checkpoint_path=weights)
    with pytest.raises(PretrainedError, match="must be a path"):
        zoo.load("api_tiny", checkpoint_path=3)
    with pytest.raises(WeightsFormatError):
        zoo.load("api_tiny", checkpoint_path=tmp_path / "absent.safetensors")


# -- what a tag says about its inputs -------------------------------------------------------------


def test_a_tag_says_how_its_inputs_must_look(tiny):
    pre = zoo.api.resolve_tag("regnetx_032").data_config(zoo.get_spec("regnetx_032"))
    assert (pre.input_size, pre.mean, pre.std) == (224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert (pre.interpolation, pre.crop_pct) == ("bicubic", 0.875)
    bare = zoo.api.resolve_tag("api_tiny")  # records none of them: the spec's defaults
    assert bare.data_config(tiny) == DataConfig.default_for(tiny)
