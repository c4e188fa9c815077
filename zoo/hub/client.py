"""The Hugging Face Hub: fetch files (cached, pinned, verified) and push a model in one commit.

Everything goes through huggingface_hub, so its cache, HF_ENDPOINT, HF_HUB_OFFLINE,
HF_HUB_CACHE and tokens behave as everywhere else. Those variables are read when a call is
made (not when huggingface_hub was imported), and every function takes `endpoint=` too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ChecksumMismatchError, HubError, OfflineCacheError

TRUTHY = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class HubSettings:
    """Where and how to reach the Hub, resolved from arguments and the environment at call time."""

    endpoint: str
    cache_dir: str
    offline: bool
    token: str | bool | None = None


def hub_settings(
    endpoint: str | None = None,
    *,
    cache_dir: str | None = None,
    offline: bool | None = None,
    token: str | bool | None = None,
) -> HubSettings:
    from huggingface_hub import constants

    env = os.environ
    endpoint = endpoint or env.get("HF_ENDPOINT") or constants.ENDPOINT
    if cache_dir is None:
        cache_dir = env.get("HF_HUB_CACHE") or (
            os.path.join(env["HF_HOME"], "hub") if env.get("HF_HOME") else constants.HF_HUB_CACHE
        )
    if offline is None:
        offline = env.get("HF_HUB_OFFLINE", "").strip().lower() in TRUTHY or constants.HF_HUB_OFFLINE
    return HubSettings(endpoint.rstrip("/"), str(cache_dir), bool(offline), token)


def split_revision(repo: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'); 'org/name' -> ('org/name', None)."""
    repo_id, _, revision = repo.partition("@")
    return repo_id, (revision or None)


def _forget_cached(path: Path) -> None:
    """Remove a bad file from the cache (the snapshot link and the blob) so it is fetched again."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    if blob != path:
        blob.unlink(missing_ok=True)


def verify_sha256(path: Path, expected: str, *, what: str) -> None:
    from zoo.weights.layouts import file_sha256

    actual = file_sha256(path)
    if actual != expected.lower():
        _forget_cached(path)
        raise ChecksumMismatchError(
            f"{what}: sha256 {actual} does not match the pinned {expected}; the file was removed from the cache "
            "and not used. Fetch it again; if it keeps failing, the repo changed: pin its old revision or update "
            "the sha256 in the registry."
        )


def fetch_file(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    sha256: str | None = None,
    settings: HubSettings | None = None,
    required: bool = True,
) -> Path | None:
    """A file of a Hub repo at a revision, from the cache or downloaded into it, checked against sha256.

    With required=False a file the repo does not have gives None instead of an error.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    s = settings or hub_settings()
    revision = revision or "main"
    what = f"{filename} of Hub repo {repo_id!r} at revision {revision!r} ({s.endpoint})"
    try:
        path = Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                endpoint=s.endpoint,
                cache_dir=s.cache_dir,
                local_files_only=s.offline,
                token=s.token,
            )
        )
    except RepositoryNotFoundError:
        raise HubError(
            f"Hub repo {repo_id!r} was not found at {s.endpoint}: check the name, or log in "
            "(HF_TOKEN / `hf auth login`) if it is private"
        ) from None
    except RevisionNotFoundError:
        raise HubError(
            f"revision {revision!r} of Hub repo {repo_id!r} was not found; pin an existing branch, tag or commit"
        ) from None
    except LocalEntryNotFoundError:
        if not s.offline:
            raise HubError(
                f"cannot reach {s.endpoint} to fetch {what}, and it is not in the cache "
                f"{s.cache_dir}; check the connection or HF_ENDPOINT"
            ) from None
        if not required and _cached_elsewhere(repo_id, s):
            return None
        raise OfflineCacheError(
            f"offline (HF_HUB_OFFLINE=1) and {what} is not in the cache {s.cache_dir}. Fetch it once while online "
            f"(`zoo download NAME` or `hf download {repo_id} {filename} --revision {revision}`), "
            "or unset HF_HUB_OFFLINE"
        ) from None
    except EntryNotFoundError:
        if not required:
            return None
        raise HubError(
            f"Hub repo {repo_id!r} has no file {filename!r} at revision {revision!r}; "
            "check the filename, or push the weights there first"
        ) from None
    except HfHubHTTPError as err:
        raise HubError(f"the Hub refused {what}: {str(err).splitlines()[0]}") from None
    except OSError as err:
        raise HubError(f"cannot fetch {what}: {type(err).__name__}: {err}") from None
    if sha256:
        verify_sha256(path, sha256, what=what)
    return path


def _cached_elsewhere(repo_id: str, s: HubSettings) -> bool:
    """Whether some file of this repo is cached (so a missing optional file is really absent)."""
    folder = Path(s.cache_dir) / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    return folder.is_dir() and any(folder.iterdir())


# -- push ------------------------------------------------------------------------------------
def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    commit_message: str = "Upload anynet-zoo model",
    private: bool | None = None,
    revision: str | None = None,
    metrics: Mapping[str, float] | None = None,
    dataset: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
) -> str:
    """Push a save_pretrained folder (model.safetensors, config.json, and a README.md model card, written
    from config.json unless the folder has one) to `repo_id` in one commit; returns the commit id."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from zoo.hub.card import render_model_card
    from zoo.weights.config import CONFIG_NAME, read_config
    from zoo.weights.state_file import WEIGHTS_NAME, read_header

    s = hub_settings(endpoint, token=token)
    if s.offline:
        raise HubError(f"cannot push to {repo_id!r}: offline mode is on (HF_HUB_OFFLINE); unset it to push")
    folder = Path(folder)
    missing = [f for f in (WEIGHTS_NAME, CONFIG_NAME) if not (folder / f).is_file()]
    if missing:
        raise HubError(f"cannot push {folder}: it lacks {missing}; write it with zoo.save_pretrained(model, dir)")
    read_config(folder)  # refuse to publish a folder the zoo could not load back
    read_header(folder / WEIGHTS_NAME)
    card = folder / "README.md"
    card_bytes = (
        card.read_bytes()
        if card.is_file()
        else render_model_card(folder, repo_id=repo_id, metrics=metrics, dataset=dataset).encode()
    )
    ops = [
        CommitOperationAdd(path_in_repo=WEIGHTS_NAME, path_or_fileobj=str(folder / WEIGHTS_NAME)),
        CommitOperationAdd(path_in_repo=CONFIG_NAME, path_or_fileobj=str(folder / CONFIG_NAME)),
        CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card_bytes),
    ]
    api = HfApi(endpoint=s.endpoint, token=s.token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.create_commit(repo_id, ops, commit_message=commit_message, revision=revision)
    except HfHubHTTPError as err:
        raise HubError(
            f"pushing to Hub repo {repo_id!r} at {s.endpoint} failed: {str(err).splitlines()[0]}. "
            "Check the repo name and that your token (HF_TOKEN) may write there"
        ) from None
    except (OSError, ValueError) as err:
        raise HubError(f"pushing to Hub repo {repo_id!r} at {s.endpoint} failed: {type(err).__name__}: {err}") from None
    return info.oid


def push_to_hub(
    model: Any,
    repo_id: str,
    *,
    commit_message: str = "Upload anynet-zoo model",
    private: bool | None = None,
    revision: str | None = None,
    metrics: Mapping[str, float] | None = None,
    dataset: str | None = None,
    preprocessing: Any = None,
    labels: Sequence[str] | None = None,
    architecture: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
) -> str:
    """Push model.safetensors, config.json and a README.md model card in one commit; returns the commit id.

    Either all three files land or none: they travel in a single Hub commit.
    """
    from zoo.weights.pretrained import save_pretrained

    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        save_pretrained(model, tmp, preprocessing=preprocessing, labels=labels, architecture=architecture)
        return push_folder(
            tmp,
            repo_id,
            commit_message=commit_message,
            private=private,
            revision=revision,
            metrics=metrics,
            dataset=dataset,
            endpoint=endpoint,
            token=token,
        )
