"""`zoo list | info | summary | plugins`: what the registry and the plugins hold."""

from __future__ import annotations

import argparse
import json
import sys

import zoo.cli.checks as checks
from zoo.errors import UnknownComponentError


def _fmt_count(n: int | None, unit: float, digits: int = 2) -> str:
    return "-" if n is None else f"{n / unit:.{digits}f}"


def _cost_or_none(spec):
    from zoo.summary import complexity

    try:
        return complexity(spec)
    except UnknownComponentError:
        return None


def cmd_list(args: argparse.Namespace) -> int:
    from zoo.registry import list_models, registry

    reg = registry()
    rows = []
    for name in list_models(args.pattern, pretrained=args.pretrained):
        entry = reg.entries[name]
        cost = _cost_or_none(entry.spec())
        tags = ",".join(sorted(entry.table.get("pretrained", {}))) or "-"
        rows.append((name, _fmt_count(cost and cost["params"], 1e6), _fmt_count(cost and cost["flops"], 1e9, 3), tags))
    header = ("name", "params(M)", "GFLOPs", "pretrained")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    if not rows:
        print(f"(no model matches {args.pattern!r})", file=sys.stderr)
    return 0


def info_dict(name: str) -> dict:
    from zoo.hub.tags import parse_tags
    from zoo.registry import registry
    from zoo.summary import complexity

    entry = registry().resolve(name)
    spec = entry.spec()
    cost = complexity(spec)
    tags = parse_tags(entry.name, entry.table.get("pretrained"), entry.where)
    pretrained = [
        {"tag": t.name, "default": t.default, "description": t.description, "trained_on": t.trained_on}
        for t in tags.values()
    ]
    return {
        "name": entry.name,
        "aliases": list(entry.aliases),
        "description": entry.description,
        "source": entry.plugin or "core",
        **cost,
        "design": dict(entry.table["design"]) if "design" in entry.table else None,
        **spec.to_dict(),
        "pretrained": pretrained,
    }


def cmd_info(args: argparse.Namespace) -> int:
    info = info_dict(args.name)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    aliases = f" (aliases: {', '.join(info['aliases'])})" if info["aliases"] else ""
    print(f"{info['name']}{aliases}")
    if info["description"]:
        print(f"  {info['description']}")
    if info["design"]:
        print(f"  design: {json.dumps(info['design'])}")
    print(f"  input: {info['input_size']}x{info['input_size']}x{info['in_channels']}   classes: {info['num_classes']}")
    print(f"  stem: {info['stem']} ({info['stem_width']})   block: {info['block']}   head: {info['head']}")
    if info["options"]:
        print(f"  options: {json.dumps(info['options'])}")
    print("  stage  depth  width  group_width  bottleneck  stride")
    for i, s in enumerate(info["stages"]):
        print(
            f"  {i:<5}  {s['depth']:<5}  {s['width']:<5}  {s['group_width']:<11}  "
            f"{s['bottleneck_ratio']:<10g}  {s['stride']}"
        )
    print(f"  params: {info['params']:,}   flops: {info['flops']:,}   acts: {info['acts']:,}")
    for tag in info["pretrained"]:
        print(f"  pretrained {tag['tag']}{' (default)' if tag['default'] else ''}: {tag['description']}")
        if tag["trained_on"]:
            print(f"    trained on: {tag['trained_on']}")
    return 0


def _input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N,H,W,C integers, got {text!r}") from None
    if len(shape) != 4:
        raise argparse.ArgumentTypeError(f"expected four integers N,H,W,C, got {text!r}")
    return shape


def cmd_summary(args: argparse.Namespace) -> int:
    from zoo.registry import get_spec
    from zoo.summary import layer_summary

    spec = get_spec(args.name)
    shape = args.input_shape or (1, spec.input_size, spec.input_size, spec.in_channels)
    layer_summary(args.name, shape)
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from zoo.errors import PluginConflictError
    from zoo.plugins import manager
    from zoo.registry import registry

    mgr = manager()
    conflicts = []
    for build in (mgr.tables, mgr.models, registry):  # the diagnosing tool must run even when these cannot
        try:
            build()
        except PluginConflictError as err:
            conflicts.append(str(err))
    for info in mgr.infos.values():
        dist = (
            f"{info.distribution} {info.version or ''}".strip()
            if info.distribution
            else "(not installed: runtime or ZOO_PLUGINS)"
        )
        print(f"{info.name}  [{dist}]")
        for kind, names in sorted(info.contributes.items()):
            print(f"    {kind}: {', '.join(names)}")
    for failure in mgr.failures:
        print(f"FAILED {failure.name}: {failure.error}")
    for conflict in conflicts:
        print(f"CONFLICT: {conflict}")
    return 1 if conflicts else 0


def add_model_commands(sub) -> None:
    """Add `list`, `info`, `summary` and `plugins` to the `zoo` command."""
    p = sub.add_parser("list", help="list models: name, params, GFLOPs, pretrained tags")
    p.add_argument("pattern", nargs="?", default="*", help="shell wildcard, e.g. 'regnetx_*'")
    p.add_argument("--pretrained", action="store_true", help="only models with pretrained weights")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="a model's spec, stages and complexity")
    p.add_argument("name", type=checks.model_source)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("summary", help="output shape of each top-level layer")
    p.add_argument("name")
    p.add_argument("--input-shape", type=_input_shape, default=None, help="N,H,W,C (default: 1,size,size,channels)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("plugins", help="loaded plugins, what they contribute, and failures")
    p.set_defaults(func=cmd_plugins)
