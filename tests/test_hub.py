"""The Hub path end to end, with the real huggingface_hub client against a loopback Hub server."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import zoo
from zoo.api import weight_layouts
from zoo.cli import main
from zoo.errors import ChecksumMismatchError, HubError, OfflineCacheError, WeightsFormatError, WeightsMismatchError
from zoo.hub.client import hub_settings
from zoo.hub.load import load_tag
from zoo.hub.tags import PretrainedTag
from zoo.weights.state_file import state_arrays

SPEC = zoo.ModelSpec(
    stages=(zoo.StageSpec(depth=1, width=8, group_width=4),), stem_width=8, num_classes=3, in_channels=1, input_size=32
)


def model(seed: int = 0):
    return zoo.create(SPEC, seed=seed)


def logits(m) -> np.ndarray:
    m.eval()
    return np.asarray(m(jnp.ones((1, 32, 32, 1))))


def same_weights(a, b) -> bool:
    sa, sb = state_arrays(a), state_arrays(b)
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def fresh_cache(monkeypatch, tmp_path, name: str) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / name))


def test_push_then_load_from_a_fresh_cache_is_bit_exact(hub, tmp_path, monkeypatch):
    original = model(seed=3)
    commit = zoo.push_to_hub(
        original, "org/tiny", commit_message="first weights", metrics={"top1": 0.5}, dataset="fashion_mnist"
    )
    repo = hub.state.repos["org/tiny"]
    assert repo.branches["main"] == commit
    assert {"model.safetensors", "config.json", "README.md"} <= set(repo.commits[commit])
    fresh_cache(monkeypatch, tmp_path, "fresh")
    loaded = zoo.load("hf-hub:org/tiny")
    assert same_weights(loaded, original)
    np.testing.assert_array_equal(logits(loaded), logits(original))


def test_push_is_one_commit_with_a_model_card(hub):
    before = len(hub.requests)
    zoo.push_to_hub(model(), "org/card", commit_message="card", metrics={"top1": 0.91}, dataset="fashion_mnist")
    commits = [r for r in hub.requests[before:] if r[0] == "POST" and "/commit/" in r[1]]
    assert len(commits) == 1
    repo = hub.state.repos["org/card"]
    card = repo.commits[repo.branches["main"]]["README.md"].decode()
    front = yaml.safe_load(card.split("---")[1])
    assert front["library_name"] == "anynet-zoo" and front["datasets"] == ["fashion_mnist"]
    assert front["metrics"] == ["top1"] and "license" in front and "jax" in front["tags"]
    assert "| 0 | 1 | 8 | 4 | 1 | 2 |" in card and 'zoo.load("hf-hub:org/card")' in card and "| top1 | 0.91 |" in card


def test_pinned_revisions_resolve_to_their_own_weights(hub):
    first, second = model(seed=1), model(seed=2)
    commit1 = zoo.push_to_hub(first, "org/pin", commit_message="v1")
    zoo.push_to_hub(second, "org/pin", commit_message="v2")
    assert same_weights(zoo.load(f"hf-hub:org/pin@{commit1}"), first)
    assert same_weights(zoo.load("hf-hub:org/pin"), second)


def test_push_to_a_branch_leaves_main_alone(hub):
    main_weights, branch_weights = model(seed=1), model(seed=2)
    zoo.push_to_hub(main_weights, "org/branchy", commit_message="main")
    zoo.push_to_hub(branch_weights, "org/branchy", commit_message="exp", revision="experiment")
    assert same_weights(zoo.load("hf-hub:org/branchy@experiment"), branch_weights)
    assert same_weights(zoo.load("hf-hub:org/branchy"), main_weights)


def test_registry_tag_loads_the_seed_weights_from_the_project_namespace(hub):
    trained = zoo.create("regnetx32", seed=5)
    zoo.push_to_hub(trained, "zoo-test/regnetx32-fashion-mnist", commit_message="seed recipe")
    for loaded in (
        zoo.load("regnetx32", pretrained="seed96"),
        zoo.load("regnetx32.seed96", pretrained=True),
        zoo.load("RegNetX32", pretrained="seed96"),
    ):
        assert same_weights(loaded, trained)


def _tag(**fields) -> PretrainedTag:
    return PretrainedTag(model="tiny", tag="t", hub_id="org/tagged", **fields)


def test_checksum_mismatch_raises_and_the_bad_file_is_not_kept(hub, tmp_path):
    zoo.push_to_hub(model(), "org/tagged", commit_message="w")
    with pytest.raises(ChecksumMismatchError, match="does not match the pinned"):
        load_tag(_tag(sha256="0" * 64), SPEC, layouts=weight_layouts())
    assert not [p for p in (tmp_path / "hf-cache").rglob("*") if p.is_file() and p.stat().st_size > 1000]
    before = len(hub.requests)
    # the next load fetches the file again instead of trusting the cache
    load_tag(_tag(), SPEC, layouts=weight_layouts())
    assert ("GET", "/org/tagged/resolve/main/model.safetensors") in hub.requests[before:]


def test_a_matching_checksum_loads(hub):
    original = model(seed=4)
    zoo.push_to_hub(original, "org/tagged", commit_message="w")
    repo = hub.state.repos["org/tagged"]
    sha = hashlib.sha256(repo.commits[repo.branches["main"]]["model.safetensors"]).hexdigest()
    assert same_weights(load_tag(_tag(sha256=sha), SPEC, layouts=weight_layouts()), original)


def test_missing_repo_file_and_revision_say_which(hub):
    zoo.push_to_hub(model(), "org/tagged", commit_message="w")
    with pytest.raises(HubError, match="'org/nothing' was not found"):
        zoo.load("hf-hub:org/nothing")
    with pytest.raises(HubError, match="no file 'weights.safetensors'"):
        load_tag(_tag(filename="weights.safetensors"), SPEC, layouts=weight_layouts())
    with pytest.raises(HubError, match="revision 'v9'"):
        zoo.load("hf-hub:org/tagged@v9")


def test_truncated_and_corrupt_files_on_the_hub_raise_format_errors(hub):
    zoo.push_to_hub(model(), "org/tagged", commit_message="w")
    repo = hub.state.repos["org/tagged"]
    data = repo.commits[repo.branches["main"]]["model.safetensors"]
    hub.state.put_file("org/tagged", "model.safetensors", data[: len(data) // 2])
    with pytest.raises(WeightsFormatError, match="truncated|corrupt"):
        zoo.load("hf-hub:org/tagged")
    hub.state.put_file("org/tagged", "model.safetensors", b"\xff" * 64)
    with pytest.raises(WeightsFormatError):
        zoo.load("hf-hub:org/tagged")


def test_wrong_shapes_on_the_hub_raise_a_mismatch(hub):
    zoo.push_to_hub(model(), "org/tagged", commit_message="w")
    with pytest.raises(WeightsMismatchError, match="wrongly shaped"):
        load_tag(_tag(), SPEC.replace(stem_width=16), layouts=weight_layouts())


def test_offline_with_a_warm_cache_makes_no_request(hub, monkeypatch):
    trained = zoo.create("regnetx32", seed=6)
    zoo.push_to_hub(trained, "zoo-test/regnetx32-fashion-mnist", commit_message="w")
    zoo.load("regnetx32", pretrained="seed96")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.requests)
    assert same_weights(zoo.load("regnetx32", pretrained="seed96"), trained)
    assert hub.requests[before:] == []


def test_offline_with_a_cold_cache_names_repo_file_and_remedy(hub, monkeypatch):
    zoo.push_to_hub(model(), "zoo-test/regnetx32-fashion-mnist", commit_message="w")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.requests)
    with pytest.raises(OfflineCacheError) as info:
        zoo.load("regnetx32", pretrained="seed96")
    message = str(info.value)
    assert "zoo-test/regnetx32-fashion-mnist" in message and "model.safetensors" in message
    assert "zoo download" in message and hub.requests[before:] == []


def test_namespace_env_var_redirects_the_project_tags(hub, monkeypatch):
    monkeypatch.setenv("ZOO_HUB_NAMESPACE", "my-fork")
    trained = zoo.create("regnetx32", seed=8)
    zoo.push_to_hub(trained, "my-fork/regnetx32-fashion-mnist", commit_message="fork")
    assert same_weights(zoo.load("regnetx32", pretrained="seed96"), trained)


def test_a_private_repo_needs_the_token(hub, monkeypatch, tmp_path):
    original = model(seed=9)
    zoo.push_to_hub(original, "org/secret", commit_message="w", private=True)
    assert hub.state.repos["org/secret"].private
    assert same_weights(zoo.load("hf-hub:org/secret"), original)
    monkeypatch.delenv("HF_TOKEN")
    fresh_cache(monkeypatch, tmp_path, "anonymous")
    with pytest.raises(HubError, match="was not found"):
        zoo.load("hf-hub:org/secret")


def test_tags_resolve_names_aliases_and_errors(hub):
    assert zoo.api.resolve_tag("regnetx_032").hub_id == "timm/regnetx_032.pycls_in1k"
    assert zoo.api.resolve_tag("RegNetX-3.2GF").tag == "pycls_in1k"  # an alias with a dot is a name, not a tag
    assert zoo.api.resolve_tag("regnetx_032.pycls_in1k").layout == "timm"
    with pytest.raises(zoo.errors.PretrainedError, match="no pretrained tag 'imagenet'"):
        zoo.load("regnetx_032", pretrained="imagenet")
    with pytest.raises(zoo.errors.PretrainedError, match="names tag"):
        zoo.load("regnetx_032.pycls_in1k", pretrained="other")
    with pytest.raises(zoo.errors.UnknownModelError, match="zoo list"):
        zoo.load("regnetx_999.pycls_in1k", pretrained=True)


def test_every_paper_model_has_a_timm_tag():
    names = [n for n in zoo.list_models("regnet[xy]_*")]
    assert len(names) == 24
    for name in names:
        tag = zoo.api.resolve_tag(name)
        assert (tag.hub_id, tag.layout, tag.filename) == (f"timm/{name}.pycls_in1k", "timm", "model.safetensors")


def test_cli_push_download_and_list(hub, tmp_path, capsys):
    folder = zoo.save_pretrained(zoo.create("regnetx32", seed=2), tmp_path / "out")
    assert (
        main(
            [
                "push",
                str(folder),
                "zoo-test/regnetx32-fashion-mnist",
                "--metric",
                "acc=0.9",
                "--dataset",
                "fashion_mnist",
            ]
        )
        == 0
    )
    repo = hub.state.repos["zoo-test/regnetx32-fashion-mnist"]
    assert "| acc | 0.9 |" in repo.commits[repo.branches["main"]]["README.md"].decode()
    capsys.readouterr()
    assert main(["download", "regnetx32.seed96"]) == 0
    path = capsys.readouterr().out.strip()
    assert path.endswith("model.safetensors") and (tmp_path / "hf-cache").as_posix() in path
    assert main(["list", "--pretrained", "regnetx3*"]) == 0
    assert "fashion_mnist" in capsys.readouterr().out
    assert main(["download", "hf-hub:org/none"]) == 2
    assert "not found" in capsys.readouterr().err


def test_config_json_alone_rebuilds_the_model(hub):
    original = model(seed=10)
    zoo.push_to_hub(original, "org/cfg", commit_message="w", labels=["a", "b", "c"])
    repo = hub.state.repos["org/cfg"]
    config = json.loads(repo.commits[repo.branches["main"]]["config.json"])
    assert zoo.ModelSpec.from_dict(config["spec"]) == SPEC and config["labels"] == ["a", "b", "c"]
    assert zoo.load("hf-hub:org/cfg").spec == SPEC


def test_tag_fields_are_checked(hub):
    from zoo.errors import RegistryError
    from zoo.hub.tags import parse_tags

    with pytest.raises(RegistryError, match="layout"):
        parse_tags("m", {"t": {"hub_id": "a/b", "layout": 3}}, "reg.toml")  # names are checked on load
    with pytest.raises(RegistryError, match="sha256"):
        parse_tags("m", {"t": {"hub_id": "a/b", "sha256": "abc"}}, "reg.toml")
    assert replace(_tag(), hub_id="{namespace}/x").repo_id == "zoo-test/x"


def test_the_stand_in_speaks_the_protocol_the_real_client_reads(hub):
    """Revision info, tree listing and file metadata, through huggingface_hub's own API calls."""
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    commit = zoo.push_to_hub(model(), "org/proto", commit_message="w")
    api = HfApi(endpoint=hub.url)
    info = api.model_info("org/proto", revision=commit)
    assert info.sha == commit and {s.rfilename for s in info.siblings} >= {
        "model.safetensors",
        "config.json",
        "README.md",
    }
    tree = {f.path: f for f in api.list_repo_tree("org/proto", revision="main")}
    weights = hub.state.repos["org/proto"].commits[commit]["model.safetensors"]
    assert tree["model.safetensors"].size == len(weights)
    assert tree["model.safetensors"].lfs.sha256 == hashlib.sha256(weights).hexdigest()
    meta = get_hf_file_metadata(hf_hub_url("org/proto", "model.safetensors", revision="main", endpoint=hub.url))
    assert meta.commit_hash == commit and meta.etag == hashlib.sha256(weights).hexdigest() and meta.size == len(weights)


def test_hub_settings_follow_the_environment_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = hub_settings()
    assert (s.endpoint, s.cache_dir, s.offline) == ("http://127.0.0.1:9", str(tmp_path), True)
