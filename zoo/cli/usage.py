"""`zoo predict` and `zoo export`: a thin layer over zoo.predict and zoo.export.

MODEL is spelled as zoo.load takes it; a registry name gets its default pretrained weights
(`--tag` picks another), since predicting with random weights is never what is meant.
"""

from __future__ import annotations

import argparse
import json

import zoo.cli.checks as checks


def _load(args: argparse.Namespace):
    from zoo.api import SOURCE_PREFIXES, cli_source, load

    source = cli_source(args.model)
    if source.startswith(SOURCE_PREFIXES):
        return load(source)
    return load(source, pretrained=args.tag or True)


def cmd_predict(args: argparse.Namespace) -> int:
    from zoo.predict import format_predictions, predict

    model = _load(args)
    results = predict(model, args.images, top_k=args.top_k)
    if args.json:
        print(json.dumps([{"image": str(i), **r.to_dict()} for i, r in zip(args.images, results)], indent=2))
        return 0
    print(format_predictions(args.images, results))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from zoo.export import check_target, export

    formats = tuple(dict.fromkeys(args.format)) if args.format else None
    check_target(args.out, formats)  # before the model is fetched and compiled
    model = _load(args)
    platforms = tuple(args.platform) if args.platform else None
    exported = export(model, args.out, formats=formats, platforms=platforms)
    for kind, path in exported.files.items():
        print(f"{kind}: {path}")
    return 0


def add_usage_commands(sub) -> None:
    """Add `predict` and `export` to the `zoo` command's subparsers."""
    p = sub.add_parser("predict", help="classify image files with a model's own preprocessing and labels")
    p.add_argument(
        "model", type=checks.model_source, help="regnetx32, regnetx_032.pycls_in1k, hf-hub:org/repo or local-dir:PATH"
    )
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    p.add_argument("--top-k", type=checks.positive_int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--tag", default=None, help="pretrained tag (default: the model's default tag)")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "export", help="write a model as a jax.export StableHLO artifact or an ONNX model, with its data config"
    )
    p.add_argument(
        "model", type=checks.model_source, help="regnetx32, regnetx_032.pycls_in1k, hf-hub:org/repo or local-dir:PATH"
    )
    p.add_argument(
        "out",
        help="folder to write model.stablehlo (model.onnx with --format onnx) and data_config.json into; "
        "a name ending in .onnx is that ONNX file, data_config.json beside it",
    )
    p.add_argument("--tag", default=None, help="pretrained tag (default: the model's default tag)")
    p.add_argument(
        "--format",
        action="append",
        choices=("stablehlo", "onnx"),
        help="what to write (repeatable; default stablehlo, or onnx for an OUT ending in .onnx)",
    )
    p.add_argument(
        "--platform",
        action="append",
        choices=("cpu", "cuda", "rocm", "tpu"),
        help="target platform of the stablehlo artifact (repeatable)",
    )
    p.set_defaults(func=cmd_export)
