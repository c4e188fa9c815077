"""`zoo download` and `zoo push`: the Hub commands, a thin layer over zoo.download and zoo.hub."""

from __future__ import annotations

import argparse

import zoo.cli.checks as checks


def _metric(text: str) -> tuple[str, float]:
    key, eq, value = text.partition("=")
    try:
        if not eq or not key:
            raise ValueError
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}") from None


def cmd_download(args: argparse.Namespace) -> int:
    from zoo.api import download

    path = download(args.name, args.tag or True)
    print(path)
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from zoo.hub.client import push_folder

    commit = push_folder(
        args.dir,
        args.repo_id,
        commit_message=args.message,
        private=args.private or None,
        revision=args.revision,
        metrics=dict(args.metric) or None,
        dataset=args.dataset,
    )
    print(f"pushed {args.dir} to {args.repo_id} (commit {commit})")
    return 0


def add_hub_commands(sub) -> None:
    p = sub.add_parser(
        "download", help="fetch pretrained weights into the Hub cache (NAME[.TAG] or hf-hub:org/repo@rev)"
    )
    p.add_argument(
        "name", type=checks.model_source, help="regnetx_032, regnetx_032.pycls_in1k, or hf-hub:org/repo[@revision]"
    )
    p.add_argument("--tag", default=None, help="pretrained tag (default: the model's default tag)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("push", help="push a save_pretrained folder to a Hub repo in one commit")
    p.add_argument("dir", help="folder holding model.safetensors and config.json (zoo.save_pretrained)")
    p.add_argument("repo_id", help="org/name on the Hub")
    p.add_argument("--message", default="Upload anynet-zoo model", help="commit message")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", default=None, help="branch to commit to (created if missing)")
    p.add_argument("--dataset", default=None, help="dataset the weights were trained on, for the model card")
    p.add_argument("--metric", type=_metric, action="append", default=[], help="NAME=VALUE for the model card")
    p.set_defaults(func=cmd_push)
