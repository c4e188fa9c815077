"""A Hugging Face Hub stand-in on loopback, speaking the protocol the real huggingface_hub client uses.

It keeps model repos in memory as branches of commits and serves: repo creation, branch
creation, YAML validation, preupload (every file 'regular', so contents travel inline in the
commit), ndjson commits (all operations or none), revision info, tree listing, and file
resolution with the ETag / X-Repo-Commit / X-Error-Code headers the client reads. Every
request is logged, so tests can prove an offline load made none. Used by the `hub` fixture.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
import yaml

LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack")


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None

    def commit(self, branch: str, files: dict[str, bytes], message: str) -> str:
        parent = self.branches.get(branch, "")
        digest = hashlib.sha1(f"{parent}\n{message}\n".encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
        sha = digest.hexdigest()
        self.commits[sha] = dict(files)
        self.branches[branch] = sha
        return sha


@dataclass
class Fault:
    """A fault the server plays on matching requests: 'drop' (half the body, then the connection closes),
    'stall' (wait `seconds` before answering), '500' (a server error), 'corrupt' (one byte flipped) or
    'trickle' (the body at 1 KB/s, for at most `seconds`, then the connection closes)."""

    kind: str
    path: str = ""  # a substring of the request path
    method: str | None = None  # None: any method
    times: int | None = 1  # None: every time
    seconds: float = 5.0

    def matches(self, method: str, path: str) -> bool:
        return self.times != 0 and (self.method in (None, method)) and self.path in path


class HubState:
    """The server's repos, its request log, and the token writes need (None: any)."""

    def __init__(self, token: str | None = None):
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.token = token
        self.lock = threading.Lock()
        self.faults: list[Fault] = []

    def inject(self, kind: str, path: str = "", *, method: str | None = None, times: int | None = 1, **kw) -> Fault:
        """Test hook: play a fault on the next `times` requests whose path contains `path`."""
        fault = Fault(kind, path, method, times, **kw)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def put_file(self, repo_id: str, path: str, content: bytes, *, branch: str = "main", message: str = "edit") -> str:
        """Test hook: commit one file directly (to tamper with a repo behind the client's back)."""
        with self.lock:
            repo = self.repos.setdefault(repo_id, Repo(repo_id))
            files = dict(repo.commits.get(repo.branches.get(branch, ""), {}))
            files[path] = content
            return repo.commit(branch, files, message)


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState  # set on the subclass the server builds

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    # -- plumbing ---------------------------------------------------------------------------
    fault: Fault | None = None

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False):
        if self.fault is not None and self.fault.kind == "corrupt" and body and not head:
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        if self.fault is not None and self.fault.kind == "drop":
            return self._drop(status, body, headers, head)
        if self.fault is not None and self.fault.kind == "trickle" and body and not head:
            return self._trickle(status, body, headers, self.fault.seconds)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _trickle(self, status: int, body: bytes, headers: dict[str, str] | None, seconds: float) -> None:
        """Promise the whole body, then send it 100 bytes per 0.1 s; give up after `seconds` (bounded)."""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        end = time.monotonic() + seconds
        try:
            for i in range(0, len(body), 100):
                if time.monotonic() > end:
                    break
                self.wfile.write(body[i : i + 100])
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the client gave up
        self.close_connection = True

    def _drop(self, status: int, body: bytes, headers: dict[str, str] | None, head: bool) -> None:
        """Promise the whole body, send half of it (nothing for HEAD), then close the connection."""
        if not head:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _json(self, status: int, data, headers: dict[str, str] | None = None):
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str | None, message: str, head: bool = False):
        headers = {"X-Error-Message": message, "Content-Type": "application/json"}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers, head=head)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorized(self) -> bool:
        token = self.state.token
        return token is None or self.headers.get("Authorization") == f"Bearer {token}"

    def _repo(self, repo_id: str, head: bool = False) -> Repo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None or (repo.private and not self._authorized()):
            self._error(404, "RepoNotFound", f"Repository {repo_id} not found", head=head)
            return None
        return repo

    def _revision(self, repo_id: str, revision: str, head: bool = False) -> tuple[Repo, str] | None:
        """(repo, commit sha) of a readable repo at `revision`, or None after answering 404."""
        repo = self._repo(repo_id, head=head)
        if repo is None:
            return None
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
            return None
        return repo, sha

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        self.state.requests.append((method, url.path))
        self.fault = self.state.take_fault(method, url.path)
        if self.fault is not None and self.fault.kind == "stall":
            time.sleep(self.fault.seconds)
        if self.fault is not None and self.fault.kind == "500":
            return self._error(500, None, "Internal Server Error (injected)", head=method == "HEAD")
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        with self.state.lock:
            if method == "POST" and parts[:3] == ["api", "repos", "create"]:
                return self._create_repo()
            if method == "POST" and parts == ["api", "validate-yaml"]:
                return self._validate_yaml()
            if parts[:2] in (["api", "models"], ["api", "datasets"]) and len(parts) >= 4:
                kind = "datasets/" if parts[1] == "datasets" else ""  # dataset repos live apart, as the Hub keeps them
                repo_id, action, rest = kind + "/".join(parts[2:4]), (parts[4] if len(parts) > 4 else None), parts[5:]
                if method == "POST" and action == "preupload":
                    return self._preupload(repo_id, "/".join(rest))
                if method == "POST" and action == "commit":
                    return self._commit(repo_id, "/".join(rest))
                if method == "POST" and action == "branch":
                    return self._branch(repo_id, "/".join(rest))
                if method == "GET" and action in (None, "revision"):
                    return self._info(repo_id, "/".join(rest) or "main")
                if method == "GET" and action == "tree":
                    return self._tree(repo_id, rest[0] if rest else "main", "/".join(rest[1:]))
            if method in ("GET", "HEAD") and len(parts) >= 6 and parts[0] == "datasets" and parts[3] == "resolve":
                return self._resolve("/".join(parts[:3]), parts[4], "/".join(parts[5:]), head=method == "HEAD")
            if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]), head=method == "HEAD")
        self._error(404, None, f"no route for {method} {url.path}", head=method == "HEAD")

    do_GET = lambda self: self._route("GET")  # noqa: E731
    do_HEAD = lambda self: self._route("HEAD")  # noqa: E731
    do_POST = lambda self: self._route("POST")  # noqa: E731

    # -- endpoints ----------------------------------------------------------------------------
    def _create_repo(self):
        payload = json.loads(self._body() or b"{}")
        if not self._authorized():
            return self._error(401, None, "Invalid credentials in Authorization header")
        repo_id = f"{payload.get('organization')}/{payload['name']}" if payload.get("organization") else payload["name"]
        if payload.get("type") == "dataset":
            repo_id = f"datasets/{repo_id}"
        url = f"http://{self.headers['Host']}/{repo_id}"
        if repo_id in self.state.repos:
            return self._json(409, {"error": "You already created this model repo", "url": url})
        repo = Repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        repo.commit(
            "main", {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}, "initial commit"
        )
        self.state.repos[repo_id] = repo
        self._json(200, {"url": url, "name": repo_id})

    def _validate_yaml(self):
        content = json.loads(self._body() or b"{}").get("content", "")
        errors = []
        if content.startswith("---"):
            front = content.split("---", 2)[1] if content.count("---") >= 2 else ""
            try:
                if not isinstance(yaml.safe_load(front) or {}, dict):
                    errors.append({"message": "metadata must be a YAML mapping"})
            except yaml.YAMLError as err:
                errors.append({"message": f"invalid YAML: {err}"})
        self._json(400 if errors else 200, {"errors": errors, "warnings": []})

    def _writable(self, repo_id: str, revision: str) -> tuple[Repo, str] | None:
        if not self._authorized():
            self._error(401, None, "Invalid credentials in Authorization header")
            return None
        repo = self._repo(repo_id)
        if repo is None:
            return None
        if revision not in repo.branches:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return repo, revision

    def _preupload(self, repo_id: str, revision: str):
        payload = json.loads(self._body() or b"{}")
        found = self._writable(repo_id, revision)
        if found is None:
            return
        repo, branch = found
        current = repo.commits[repo.branches[branch]]
        files = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": git_blob_oid(current[f["path"]]) if f["path"] in current else None,
            }
            for f in payload.get("files", [])
        ]
        self._json(200, {"files": files, "commitOid": repo.branches[branch]})

    def _commit(self, repo_id: str, revision: str):
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        found = self._writable(repo_id, revision)
        if found is None:
            return
        repo, branch = found
        header = next((item["value"] for item in lines if item["key"] == "header"), None)
        if header is None or not header.get("summary"):
            return self._error(400, None, "commit header with a summary is required")
        parent = header.get("parentCommit")
        if parent and parent != repo.branches[branch]:
            return self._error(412, None, "A commit has happened since. Please refresh and try again.")
        files = dict(repo.commits[repo.branches[branch]])
        for item in lines:  # build the whole new tree first: a bad operation rejects the commit
            key, value = item["key"], item.get("value", {})
            if key == "file":
                try:
                    files[value["path"]] = base64.b64decode(value["content"], validate=True)
                except (KeyError, ValueError):
                    return self._error(400, None, f"malformed file operation for {value.get('path')!r}")
            elif key == "deletedFile":
                if value.get("path") not in files:
                    return self._error(404, "EntryNotFound", "A file with this name doesn't exist")
                del files[value["path"]]
            elif key != "header":
                return self._error(400, None, f"operation {key!r} is not supported by this test server")
        sha = repo.commit(branch, files, header["summary"])
        self._json(
            200,
            {"success": True, "commitOid": sha, "commitUrl": f"http://{self.headers['Host']}/{repo_id}/commit/{sha}"},
        )

    def _branch(self, repo_id: str, branch: str):
        payload = json.loads(self._body() or b"{}")
        if not self._authorized():
            return self._error(401, None, "Invalid credentials in Authorization header")
        repo = self._repo(repo_id)
        if repo is None:
            return
        if branch in repo.branches:
            return self._error(409, None, f"Reference {branch} already exists")
        start = repo.resolve(payload.get("startingPoint") or "main")
        if start is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {payload.get('startingPoint')}")
        repo.branches[branch] = start
        self._json(200, {})

    def _info(self, repo_id: str, revision: str):
        resolved = self._revision(repo_id, revision)
        if resolved is None:
            return
        repo, sha = resolved
        siblings = [{"rfilename": p} for p in sorted(repo.commits[sha])]
        self._json(
            200,
            {
                "id": repo_id,
                "modelId": repo_id,
                "sha": sha,
                "private": repo.private,
                "siblings": siblings,
                "tags": [],
                "downloads": 0,
                "likes": 0,
            },
        )

    def _tree(self, repo_id: str, revision: str, prefix: str):
        resolved = self._revision(repo_id, revision)
        if resolved is None:
            return
        repo, sha = resolved
        entries = []
        for path, content in sorted(repo.commits[sha].items()):
            if prefix and not path.startswith(prefix.rstrip("/") + "/"):
                continue
            entry = {"type": "file", "oid": git_blob_oid(content), "size": len(content), "path": path}
            if path.endswith(LFS_SUFFIXES):
                entry["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
            entries.append(entry)
        self._json(200, entries)

    def _resolve(self, repo_id: str, revision: str, path: str, head: bool):
        resolved = self._revision(repo_id, revision, head=head)
        if resolved is None:
            return
        repo, sha = resolved
        files = repo.commits[sha]
        if path not in files:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {revision}", head=head)
        content = files[path]
        etag = hashlib.sha256(content).hexdigest() if path.endswith(LFS_SUFFIXES) else git_blob_oid(content)
        self._send(
            200,
            content,
            {
                "ETag": f'"{etag}"',
                "X-Repo-Commit": sha,
                "Content-Type": "application/octet-stream",
                "Accept-Ranges": "none",
            },
            head=head,
        )


class HubServer:
    """A running stand-in: `url` for HF_ENDPOINT, `state` for its repos and request log."""

    def __init__(self, token: str | None = None):
        self.state = HubState(token)
        handler = type("BoundHubHandler", (HubHandler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="hubserver", daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.state.requests


TEST_TOKEN = "hf_test_token_for_the_loopback_hub"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A fresh loopback Hub, with HF_ENDPOINT, HF_TOKEN and fresh caches pointed at it for this test.

    conftest.py sets HF_HUB_OFFLINE=1 before huggingface_hub is imported (no test may reach the
    real Hub), which freezes huggingface_hub.constants.HF_HUB_OFFLINE; this fixture lifts both
    for the loopback server only. Tests that want offline mode set HF_HUB_OFFLINE=1 again.
    """
    from huggingface_hub import constants

    with HubServer(token=TEST_TOKEN) as server:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "zoo-cache"))
        monkeypatch.setenv("ZOO_HUB_NAMESPACE", "zoo-test")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server
