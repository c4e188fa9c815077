"""The Hugging Face Hub: fetch files (cached, pinned, verified) and push a model in one commit.

Everything goes through huggingface_hub, so its cache, HF_ENDPOINT, HF_HUB_OFFLINE,
HF_HUB_CACHE and tokens behave as everywhere else. Those variables are read when a call is
made (not when huggingface_hub was imported), and every function takes `endpoint=` too.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from zoo.errors import (
    ChecksumMismatchError,
    HubConnectionError,
    HubError,
    HubReferenceError,
    HubServerError,
    HubTimeoutError,
    OfflineCacheError,
    WeightsFormatError,
    ZooError,
)
from zoo.hub.card import render_model_card
from zoo.paths import file_in_folder, inside
from zoo.weights.checks import check_weights_file
from zoo.weights.config import CONFIG_NAME, read_config
from zoo.weights.layouts import file_sha256
from zoo.weights.pretrained import save_pretrained
from zoo.weights.state_file import WEIGHTS_NAME, read_header

TRUTHY = {"1", "on", "yes", "true"}


T = TypeVar("T")


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


# -- what may be asked for: checked before any call, so nothing can name a path outside the cache ----
_REPO_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def check_repo_id(repo_id: str) -> str:
    """A Hub repo id 'org/name' (or a bare 'name'), or HubReferenceError saying what is wrong."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if not 1 <= len(parts) <= 2 or not all(_REPO_PART.match(p) and ".." not in p and "--" not in p for p in parts):
        raise HubReferenceError(
            f"{repo_id!r} is not a Hub repo id: write 'org/name' (letters, digits, '-', '_', '.'; "
            "no '..' or '--', at most 96 characters per part)"
        )
    return repo_id


def check_revision(revision: str) -> str:
    """A commit hash or a branch/tag name that cannot climb out of the cache's refs/ folder."""
    if not isinstance(revision, str) or not revision or len(revision) > 255:
        raise HubReferenceError(f"revision {revision!r} must be a branch, tag or commit hash of 1-255 characters")
    if (
        _REF_FORBIDDEN.search(revision)
        or revision.startswith(("/", ".", "-"))
        or revision.endswith(("/", ".", ".lock"))
        or "/." in revision
    ):
        raise HubReferenceError(
            f"revision {revision!r} is not a valid branch, tag or commit hash (no '..', leading '/', "
            "control characters, spaces or ~^:?*[\\); pin a commit hash or an existing branch"
        )
    return revision


def check_filename(filename: str) -> str:
    """A relative path inside a repo: no absolute paths, '..', backslashes or control characters."""
    parts = filename.split("/") if isinstance(filename, str) else [""]
    if (
        not filename
        or filename.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or re.search(r"[\x00-\x1f\x7f\\]", filename)
    ):
        raise HubReferenceError(
            f"{filename!r} is not a file path inside a Hub repo: give a relative path such as "
            "'model.safetensors', without '..', a leading '/', backslashes or control characters"
        )
    return filename


def split_revision(repo: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'); 'org/name' -> ('org/name', None); both parts checked."""
    repo_id, at, revision = repo.partition("@")
    check_repo_id(repo_id)
    if at:
        check_revision(revision)
    return repo_id, (revision or None)


# -- the cache: verified against the Hub's sha256, healed once ---------------------------------
def _forget_cached(path: Path) -> None:
    """Remove a bad file from the cache: the blob and every snapshot link to it, so it is fetched again.

    Only what huggingface_hub wrote is touched: links are unlinked, never followed, and a blob is deleted
    only when it lies in the repo's own `blobs/` folder. A link planted to point outside the cache loses
    the link, never its target.
    """
    snapshots = next((p for p in path.parents if p.name == "snapshots"), None)
    repo_folder = snapshots.parent if snapshots is not None else None
    blob = path.resolve()
    own_blob = (
        repo_folder is not None
        and blob.parent == (repo_folder / "blobs").resolve()
        and blob.is_file()
        and not blob.is_symlink()
    )
    if snapshots is not None and own_blob and blob != path:
        for link in snapshots.rglob("*"):
            if link.is_symlink() and link.resolve() == blob:
                link.unlink(missing_ok=True)
    if path.is_symlink() or (repo_folder is not None and inside(path, repo_folder)):
        path.unlink(missing_ok=True)
    if own_blob:
        blob.unlink(missing_ok=True)


def _foreign_entry(path: Path, what: str) -> ZooError | None:
    """A cache entry the zoo must not read: a link that leaves the repo's cache folder, or a target that
    is no regular file (a FIFO or device would block the read forever)."""
    snapshots = next((p for p in path.parents if p.name == "snapshots"), None)
    target = path.resolve()
    if snapshots is not None and not inside(target, snapshots.parent.resolve()):
        return HubError(
            f"{what}: the cache entry {path} points outside the cache (to {target}); the link was removed and "
            "its target left alone. Fetch the file again."
        )
    if not target.is_file():
        return HubError(f"{what}: the cache entry {path} is not a regular file; it was removed. Fetch it again.")
    return None


def _blob_etag(path: Path) -> str | None:
    """The sha256 a cached file is stored under: huggingface_hub names each blob by the ETag in the file's
    metadata, which for LFS files (weights) is the sha256 of their content."""
    blob = path.resolve()
    return blob.name if blob != path and blob.parent.name == "blobs" and _SHA256.match(blob.name) else None


def _problem(path: Path, expected: str | None, pinned: bool, what: str) -> ZooError | None:
    """Why the cached file cannot be used (sha256 mismatch, unreadable weights header), or None."""

    if expected:
        actual = file_sha256(path)
        if actual != expected.lower():
            source = "the pinned" if pinned else "the Hub's (ETag)"
            return ChecksumMismatchError(
                f"{what}: sha256 {actual} does not match {source} {expected}; the file was removed from the cache "
                "and not used. Fetch it again; if it keeps failing, the repo changed: pin its old revision or "
                "update the sha256 in the registry."
            )
    if path.suffix == ".safetensors":
        try:
            read_header(path)
        except WeightsFormatError as err:
            return err
    if path.suffix == ".json":  # small files without an LFS sha256: at least they must parse
        try:
            json.loads(path.read_bytes())
        except (UnicodeDecodeError, ValueError) as err:
            return WeightsFormatError(f"{what} is not valid JSON ({type(err).__name__}); the file is corrupt")
    return None


def verify_sha256(path: Path, expected: str, *, what: str) -> None:
    problem = _problem(path, expected, True, what)
    if problem is not None:
        _forget_cached(path)
        raise problem


def _network_error(err: BaseException, doing: str, s: HubSettings) -> HubError:
    """One typed line for a failure of the network or the server, found along the exception's causes."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, HfHubHTTPError) and seen.response is not None and seen.response.status_code >= 500:
            return HubServerError(
                f"the Hub at {s.endpoint} answered HTTP {seen.response.status_code} (server error) {doing}; "
                "try again later"
            )
        if isinstance(seen, httpx2.TimeoutException):
            return HubTimeoutError(
                f"the Hub at {s.endpoint} stopped answering (timeout) {doing}; try again, or raise "
                "HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT on a slow link"
            )
        if isinstance(seen, httpx2.ConnectError):
            return HubConnectionError(
                f"cannot connect to {s.endpoint} {doing} (connection refused or no route); "
                "check the connection or HF_ENDPOINT"
            )
        if isinstance(seen, OSError) and seen.errno is not None and seen.filename is not None:
            return HubError(
                f"cannot write the Hub cache {s.cache_dir} {doing}: {seen.strerror} ({seen.filename}); "
                "free some space or set HF_HUB_CACHE to a writable folder"
            )
        if isinstance(seen, (httpx2.TransportError, OSError)):
            return HubConnectionError(
                f"the connection to {s.endpoint} broke {doing} ({type(seen).__name__}: "
                f"{str(seen).splitlines()[0] if str(seen) else 'dropped'}); nothing partial was kept. Try again"
            )
        seen = seen.__cause__ or seen.__context__
    return HubError(f"failed {doing}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")


def _preflight(
    repo_id: str, filename: str, revision: str, s: HubSettings, what: str, repo_type: str = "model"
) -> tuple[str | None, int | None]:
    """The file's ETag (where it is a sha256) and size from one HEAD request without retries, so a Hub that is down fails in one timeout
    instead of huggingface_hub's backoff (about 23 s); None where the cache can answer instead."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=s.endpoint, repo_type=repo_type)
    try:
        meta = get_hf_file_metadata(url, token=s.token, timeout=constants.HF_HUB_ETAG_TIMEOUT, endpoint=s.endpoint)
    except (RepositoryNotFoundError, EntryNotFoundError):
        return None, None  # hf_hub_download says which, with its own typed error
    except HfHubHTTPError as err:
        if err.response is None or err.response.status_code < 500:
            return None, None
        failure = _network_error(err, f"while fetching {what}", s)
    except Exception as err:  # noqa: BLE001 - every transport failure is classified below
        failure = _network_error(err, f"while fetching {what}", s)
    else:
        etag = meta.etag if meta.etag and _SHA256.match(meta.etag) else None
        return etag, meta.size
    if _cached_file(repo_id, filename, revision, s, repo_type) is None:
        raise failure
    return None, None


# The slowest average rate a download may keep before its deadline ends it (a trickling body never
# trips the per-read timeout), and the fixed allowance on top for the connection and the first bytes.
MIN_BYTES_PER_S = 32 * 1024
DEADLINE_ALLOWANCE_S = 120.0


def download_deadline(size: int | None) -> float:
    """Seconds a file of `size` bytes may take in all: ZOO_HUB_DEADLINE, else the allowance plus the
    size at the slowest rate kept (64 MiB assumed where the Hub did not say)."""
    fixed = os.environ.get("ZOO_HUB_DEADLINE", "").strip()
    if fixed:
        try:
            seconds = float(fixed)
        except ValueError:
            seconds = float("nan")
        if not seconds > 0 or seconds == float("inf"):
            raise HubError(f"ZOO_HUB_DEADLINE={fixed!r} is not a positive number of seconds")
        return seconds
    return DEADLINE_ALLOWANCE_S + (size if size else 64 << 20) / MIN_BYTES_PER_S


def _within(seconds: float, what: str, call: Callable[[], T]) -> T:
    """`call()` in a worker thread, or HubTimeoutError once `seconds` pass (the worker is left to end
    with its connection; huggingface_hub keeps the partial file as .incomplete and never serves it)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as err:  # noqa: BLE001 - handed back to the caller's thread below
            outcome["error"] = err

    worker = threading.Thread(target=run, name="zoo-hub-download", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise HubTimeoutError(
            f"{what} did not arrive within {seconds:.0f} s (the Hub sends it too slowly); try again, or allow "
            "more time with ZOO_HUB_DEADLINE=SECONDS"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _cached_file(repo_id: str, filename: str, revision: str, s: HubSettings, repo_type: str = "model") -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=s.cache_dir, revision=revision, repo_type=repo_type)
    return Path(found) if isinstance(found, str) else None


def _download(
    repo_id: str,
    filename: str,
    revision: str,
    s: HubSettings,
    what: str,
    required: bool,
    size: int | None = None,
    repo_type: str = "model",
) -> Path | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        found = _within(
            download_deadline(size),
            what,
            lambda: hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                repo_type=repo_type,
                endpoint=s.endpoint,
                cache_dir=s.cache_dir,
                local_files_only=s.offline,
                token=s.token,
            ),
        )
        return Path(found)
    except RepositoryNotFoundError:
        raise HubError(
            f"Hub repo {repo_id!r} was not found at {s.endpoint}: check the name, or log in "
            "(HF_TOKEN / `hf auth login`) if it is private"
        ) from None
    except RevisionNotFoundError:
        raise HubError(
            f"revision {revision!r} of Hub repo {repo_id!r} was not found; pin an existing branch, tag or commit"
        ) from None
    except LocalEntryNotFoundError as err:
        if not s.offline:
            raise _network_error(err, f"while fetching {what}", s) from None
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
        if err.response is not None and err.response.status_code >= 500:
            raise _network_error(err, f"while fetching {what}", s) from None
        raise HubError(f"the Hub refused {what}: {str(err).splitlines()[0]}") from None
    except ZooError:
        raise  # already one typed line (the deadline)
    except Exception as err:  # noqa: BLE001 - transport errors (httpx), OSError, ... -> one typed line
        raise _network_error(err, f"while fetching {what}", s) from None


def fetch_file(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    sha256: str | None = None,
    settings: HubSettings | None = None,
    required: bool = True,
    repo_type: str = "model",
) -> Path | None:
    """A file of a Hub repo at a revision, from the cache or downloaded into it, and verified.

    The file must match the pinned sha256 if given, else the Hub's own sha256 (the ETag of LFS files);
    weights must have a readable header. A cached file that fails is removed with its links and
    fetched once more before the error is raised. With required=False a file the repo does not
    have gives None instead of an error. `repo_type="dataset"` reads a dataset repo (a pushed sweep).
    """
    check_repo_id(repo_id)
    check_filename(filename)
    revision = check_revision(revision or "main")
    s = settings or hub_settings()
    kind = "Hub repo" if repo_type == "model" else f"Hub {repo_type} repo"
    what = f"{filename} of {kind} {repo_id!r} at revision {revision!r} ({s.endpoint})"
    for attempt in (1, 2):
        etag, size = None, None
        if not s.offline and not (_COMMIT.match(revision) and _cached_file(repo_id, filename, revision, s, repo_type)):
            etag, size = _preflight(repo_id, filename, revision, s, what, repo_type)
        path = _download(repo_id, filename, revision, s, what, required, size, repo_type)
        if path is None:
            return None
        expected = sha256 or etag or _blob_etag(path)
        problem = _foreign_entry(path, what) or _problem(path, expected, bool(sha256), what)
        if problem is None:
            return path
        _forget_cached(path)
        if s.offline:
            raise type(problem)(f"{problem} (offline: the bad copy was removed from the cache; fetch it again online)")
        if attempt == 2:
            raise type(problem)(f"{problem} (fetched twice and both copies were bad; nothing was kept)")
    raise AssertionError("unreachable")


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
    from huggingface_hub import CommitOperationAdd

    check_repo_id(repo_id)
    if revision is not None:
        check_revision(revision)
    s = hub_settings(endpoint, token=token)
    if s.offline:
        raise HubError(f"cannot push to {repo_id!r}: offline mode is on (HF_HUB_OFFLINE); unset it to push")
    folder = Path(folder)
    missing = [f for f in (WEIGHTS_NAME, CONFIG_NAME) if not (folder / f).exists()]
    if missing:
        raise HubError(f"cannot push {folder}: it lacks {missing}; write it with zoo.save_pretrained(model, dir)")
    card = folder / "README.md"
    present = [WEIGHTS_NAME, CONFIG_NAME] + (["README.md"] if card.exists() or card.is_symlink() else [])
    for name in present:  # only regular files that live in the folder are ever uploaded
        file_in_folder(folder, name, what="cannot push: the file", error=HubError)
    # Refuse to publish a folder the zoo could not load back: config.json and weights must fit each other.
    check_weights_file(folder / WEIGHTS_NAME, read_config(folder).spec, where=str(folder))
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
    return commit_files(repo_id, ops, commit_message=commit_message, revision=revision, private=private, settings=s)


def commit_files(
    repo_id: str,
    operations: list,
    *,
    commit_message: str,
    repo_type: str = "model",
    revision: str | None = None,
    private: bool | None = None,
    settings: HubSettings | None = None,
) -> str:
    """Create the repo (and branch) where missing and commit `operations` in one commit; returns its id.
    Every failure is one typed line: refused (name, token), server error, or the connection."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    s = settings or hub_settings()
    if s.offline:
        raise HubError(f"cannot push to {repo_id!r}: offline mode is on (HF_HUB_OFFLINE); unset it to push")
    kind = "Hub repo" if repo_type == "model" else f"Hub {repo_type} repo"
    api = HfApi(endpoint=s.endpoint, token=s.token)
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, repo_type=repo_type, branch=revision, exist_ok=True)
        info = api.create_commit(
            repo_id, operations, repo_type=repo_type, commit_message=commit_message, revision=revision
        )
    except HfHubHTTPError as err:
        if err.response is not None and err.response.status_code >= 500:
            raise _network_error(err, f"while pushing to {kind} {repo_id!r}", s) from None
        raise HubError(
            f"pushing to {kind} {repo_id!r} at {s.endpoint} failed: {str(err).splitlines()[0]}. "
            "Check the repo name and that your token (HF_TOKEN) may write there"
        ) from None
    except ValueError as err:
        raise HubError(f"pushing to {kind} {repo_id!r} at {s.endpoint} failed: {type(err).__name__}: {err}") from None
    except Exception as err:  # noqa: BLE001 - transport errors (httpx), OSError, ... -> one typed line
        raise _network_error(err, f"while pushing to {kind} {repo_id!r}", s) from None
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

    Either all three files land or none: they travel in a single Hub commit. `model` may also be a
    folder written by save_pretrained (or `zoo train --out`), pushed as it is.
    """
    if isinstance(model, str | os.PathLike):
        return push_folder(
            model, repo_id, commit_message=commit_message, private=private, revision=revision, metrics=metrics,
            dataset=dataset, endpoint=endpoint, token=token,
        )  # fmt: skip
    if not hasattr(model, "spec"):
        raise HubError(
            f"push_to_hub needs a zoo model or a saved folder, not {type(model).__name__}; "
            "build one with zoo.create / zoo.load"
        )
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
