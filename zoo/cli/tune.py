"""`zoo tune MODEL`: time the conv lowerings of a model's shapes on this CPU before its first run."""

from __future__ import annotations

import argparse

import zoo.cli.checks as checks


def cmd_tune(args: argparse.Namespace) -> int:
    from zoo.api import SOURCE_PREFIXES, cli_source, create, load
    from zoo.tuning import tune

    source = cli_source(args.model)
    model = load(source) if source.startswith(SOURCE_PREFIXES) else create(source)
    result = tune(model, batch_size=args.batch_size, image_size=args.image_size or None)
    if result.backend != "cpu":
        print(f"nothing to tune on {result.backend}: XLA's own conv is used there")
        return 0
    timed = {t.key: t for t in result.tuned}
    print(f"{'conv (dtype|input|kernel|stride|padding|groups)':<72}  {'rule':<9}  {'tuned':<9}  speed-up")
    for key, form in result.forms.items():
        t = timed.get(key)
        gain = f"{t.seconds[t.static] / t.seconds[form]:.2f}x" if t and t.static in t.seconds else "(table)"
        print(f"{key:<72}  {(t.static if t else '-'):<9}  {form:<9}  {gain}")
    cost = sum(t.cost_s for t in result.tuned)
    print(f"{len(result.tuned)} of {len(result.forms)} shapes timed now in {cost:.1f} s; table: {result.table}")
    return 0


def add_tune_commands(sub) -> None:
    """Add `tune` to the `zoo` command."""
    p = sub.add_parser(
        "tune",
        help="time each conv lowering on this CPU for a model's shapes (done on first use otherwise)",
        description="Time the candidate lowerings of every grouped and 1x1 conv of MODEL at the given batch and "
        "image size, forward and backward, and keep the fastest in the tuning table (ZOO_CONV_TUNING: cache, "
        "always, off; docs/performance.md).",
    )
    p.add_argument("model", type=checks.model_source, help="registry name, hf-hub:org/repo or local-dir:PATH")
    p.add_argument("--batch-size", type=checks.positive_int, default=32, help="the batch you will train or run with")
    p.add_argument("--image-size", type=checks.image_size, default=0, help="input side (0: the model's input size)")
    p.set_defaults(func=cmd_tune)
