"""`zoo sweep run | plot | table | fit | sample`: design-space exploration from the command line.

Registered into the main parser by zoo.cli; heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import zoo.cli.checks as checks
from zoo.sweep.defaults import DEFAULT_SETTING, RECIPE_DEFAULTS

# Mean e_fit above which the best models are reported as far from the RegNet rule (a width
# off by a factor 1.25 on every block gives 0.05).
FAR_FROM_REGNET = 0.05
MIXED_HELP = "compare sweeps run with different recipes, bands or base specs (warns, naming the keys)"


def add_sweep_commands(sub) -> None:
    """Add `sweep` with its run/plot/table/fit/sample subcommands to the `zoo` command."""
    sweep = sub.add_parser(
        "sweep",
        help="sample a design space, train the samples, compare spaces by EDF",
        description="Design-space exploration as the paper does it; see docs/design-spaces.md.",
    )
    cmds = sweep.add_subparsers(dest="sweep_command", required=True)

    p = cmds.add_parser("run", help="train N models sampled from SPACE; resumable, parallel through Ray")
    p.add_argument("space", help="a design rule with a sampler: regnet, anynetx_a..anynetx_e, or a plugin's")
    _add_sampling(p)
    p.add_argument("--out", required=True, metavar="DIR", help="sweep directory: sweep.json + results.jsonl")
    p.add_argument("--dataset", type=checks.dataset, default="digits")
    p.add_argument("--train-split", type=checks.split, default="train")
    p.add_argument("--test-split", type=checks.split, default="test")
    p.add_argument("--epochs", type=int, default=RECIPE_DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=checks.positive_int, default=RECIPE_DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=RECIPE_DEFAULTS["lr"])
    p.add_argument("--optimizer", choices=("sgd", "nesterov", "adamw"), default=RECIPE_DEFAULTS["optimizer"])
    p.add_argument(
        "--weight-decay",
        type=float,
        default=RECIPE_DEFAULTS["weight_decay"],
        help="not applied to BN or bias parameters",
    )
    p.add_argument("--schedule", choices=("constant", "cosine", "step"), default=RECIPE_DEFAULTS["schedule"])
    p.add_argument(
        "--warmup-epochs", type=float, default=RECIPE_DEFAULTS["warmup_epochs"], help="linear warm-up length"
    )
    p.add_argument("--no-augment", action="store_true", help="no random crop / flip")
    p.add_argument(
        "--keep-weights",
        action="store_true",
        help="save each trial's trained weights as DIR/weights/trial-NNNN.safetensors",
    )
    p.add_argument(
        "--workers", type=checks.non_negative_int, default=2, help="parallel trials on a local Ray (0: in this process)"
    )
    p.add_argument("--address", default=None, help="join the Ray cluster at ADDR (e.g. auto or host:6379)")
    p.add_argument("--max-retries", type=int, default=3, help="reruns of a trial whose worker died")
    p.add_argument("--data-dir", default=None, help="tfds data directory (default: tfds' own)")
    p.set_defaults(func=cmd_run)

    p = cmds.add_parser("sample", help="print N specs sampled from SPACE in the band (no training)")
    p.add_argument("space")
    _add_sampling(p)
    p.add_argument("--num-classes", type=checks.positive_int, default=10)
    p.add_argument("--in-channels", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON object per sample")
    p.set_defaults(func=cmd_sample)

    p = cmds.add_parser("plot", help="error EDFs of one or more sweeps on one plot")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sweep directories or hf-hub:ORG/NAME[@REV]")
    p.add_argument("--out", default="edf.png", help="image file (default edf.png)")
    p.add_argument("--title", default=None)
    p.add_argument("--mixed", action="store_true", help=MIXED_HELP)
    p.set_defaults(func=cmd_plot)

    p = cmds.add_parser("table", help="summary of one or more sweeps: n, min/median/mean error, cost")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sweep directories or hf-hub:ORG/NAME[@REV]")
    p.add_argument("--json", action="store_true")
    p.add_argument("--mixed", action="store_true", help=MIXED_HELP)
    p.set_defaults(func=cmd_table)

    p = cmds.add_parser("push", help="publish a sweep as a Hub dataset repo (results.parquet, sweep.json, card, EDF)")
    p.add_argument("dir", metavar="DIR", help="the --out DIR of a `zoo sweep run`")
    p.add_argument("repo_id", metavar="ORG/NAME", help="dataset repo to create or update")
    p.add_argument("--revision", default=None, help="branch to commit to (default main)")
    p.add_argument("--private", action="store_true", default=None)
    p.add_argument(
        "--seed-noise",
        default=None,
        metavar="FILE",
        help="the recipe's seed-noise JSON (bench/sweep_seeds.py --json): stated in the card and uploaded",
    )
    p.set_defaults(func=cmd_push)

    p = cmds.add_parser("fit", help="fit the RegNet rule (w0, wa, wm, depth) to a sweep's best models")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sweep directories or hf-hub:ORG/NAME[@REV]")
    p.add_argument(
        "--top", type=checks.positive_int, default=None, help="models to fit (default: the best 10%%, at least 3)"
    )
    p.set_defaults(func=cmd_fit)


def _add_sampling(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=checks.positive_int, default=10, help="number of models (trials 0..N-1)")
    p.add_argument("--flops", default=None, metavar="LO:HI", help="band of multiply-adds, e.g. 360M:400M")
    p.add_argument("--params", default=None, metavar="LO:HI", help="band of parameters, e.g. 100K:300K")
    p.add_argument("--seed", type=checks.seed, default=0, help="sweep seed: trial i is draw (seed, i)")
    p.add_argument(
        "--image-size",
        type=int,
        default=DEFAULT_SETTING["image_size"],
        help="input side the band is counted at and trained at",
    )
    p.add_argument("--stem", default=DEFAULT_SETTING["stem"], help="stem component (default: stride-1 'cifar')")
    p.add_argument("--stem-width", type=int, default=DEFAULT_SETTING["stem_width"])


def _bands(args):
    from zoo.design.sampling import parse_band

    bands = []
    if not args.flops and not args.params:
        args.flops = DEFAULT_SETTING["flops"]
    if args.flops:
        bands.append(parse_band(args.flops, "flops"))
    if args.params:
        bands.append(parse_band(args.params, "params"))
    return tuple(bands)


def _base(args, num_classes: int, in_channels: int):
    from zoo.errors import SweepError
    from zoo.spec import ModelSpec, StageSpec

    if args.n < 1:
        raise SweepError(f"--n {args.n}: a sweep needs at least one model")
    return ModelSpec(
        stages=(StageSpec(1, 8, 8),),
        stem=args.stem,
        stem_width=args.stem_width,
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=args.image_size,
        options=DEFAULT_SETTING["options"],
    )


def _rule(space: str):
    from zoo.design.sampling import require_sampler
    from zoo.plugins import get_component

    rule = get_component("rule", space)
    require_sampler(rule)
    return rule


def cmd_sample(args) -> int:
    from zoo.design.sampling import draw_many
    from zoo.plugins import manager

    samples = draw_many(
        _rule(args.space),
        _base(args, args.num_classes, args.in_channels),
        args.seed,
        args.n,
        _bands(args),
        plugins=manager(),
    )
    for s in samples:
        if args.json:
            print(
                json.dumps({"trial": s.index, "params": s.params, "complexity": s.complexity, "spec": s.spec.to_dict()})
            )
        else:
            print(
                f"{s.index:4d}  {s.complexity['flops'] / 1e6:8.3f} MF  {s.complexity['params'] / 1e3:8.1f} K  "
                f"d={s.spec.depths} w={s.spec.widths} g={[st.group_width for st in s.spec.stages]} "
                f"b={[st.bottleneck_ratio for st in s.spec.stages]}"
            )
    return 0


def cmd_run(args) -> int:
    from zoo.data import open_split
    from zoo.sweep.runner import make_manifest, plan_trials, run_sweep

    rule = _rule(args.space)
    bands = _bands(args)
    train = open_split(args.dataset, args.train_split, data_dir=args.data_dir)
    base = _base(args, train.num_classes, train.image_shape[-1])
    recipe = {
        **RECIPE_DEFAULTS,
        "dataset": args.dataset,
        "train_split": args.train_split,
        "test_split": args.test_split,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "weight_decay": args.weight_decay,
        "schedule": args.schedule,
        "warmup_epochs": args.warmup_epochs,
        "augment": not args.no_augment,
        "image_size": args.image_size,
        "data_dir": args.data_dir,
    }
    from zoo.sweep.worker import recipe_config

    recipe_config(recipe)  # a bad setting fails here, not in every trial
    manifest = make_manifest(args.space, args.n, args.seed, bands, base, recipe, args.workers, args.address)
    trials = plan_trials(manifest, rule, bands)
    report = run_sweep(args.out, manifest, trials, max_retries=args.max_retries, keep_weights=args.keep_weights)
    print(
        f"zoo sweep: {len(report.finished)} trial(s) finished, {len(report.skipped)} already done, "
        f"{len(report.failed)} failed, in {report.seconds:.0f}s; table: {args.out}/results.jsonl"
    )
    return 1 if report.failed else 0


def _dirs(refs: list[str]) -> list[str]:
    """Sweep directories for table/plot/fit: local paths, or `hf-hub:org/name[@rev]` fetched at that revision."""
    from zoo.sweep.hub import resolve_sweep

    return [resolve_sweep(ref) for ref in refs]


def _comparable(summaries, mixed: bool):
    from zoo.sweep.edf import comparable

    summaries, differing = comparable(summaries, mixed=mixed)
    for line in differing:
        print(
            f"zoo: warning: these sweeps were run differently ({line}); their EDFs compare more than spaces",
            file=sys.stderr,
        )
    return summaries


def cmd_push(args) -> int:
    from zoo.sweep.hub import push_sweep

    commit = push_sweep(
        args.dir, args.repo_id, revision=args.revision, private=args.private, seed_noise=args.seed_noise
    )
    print(
        f"pushed {args.dir} to dataset {args.repo_id} at commit {commit}; read it back with "
        f"`zoo sweep table hf-hub:{args.repo_id}@{commit}`"
    )
    return 0


def cmd_plot(args) -> int:
    from zoo.sweep.edf import check_plot_out, plot_edfs, summarize

    check_plot_out(args.out)  # before any download or reading
    summaries = _comparable([summarize(d) for d in _dirs(args.dirs)], args.mixed)
    path = plot_edfs(summaries, args.out, title=args.title)
    print(f"wrote {path}")
    return 0


def cmd_table(args) -> int:
    from zoo.sweep.edf import format_ks, format_table, ks_power_of, pair_tests, summarize

    summaries = _comparable([summarize(d) for d in _dirs(args.dirs)], args.mixed)
    if args.json:
        out: dict[str, Any] = {
            "sweeps": [s.row() for s in summaries],
            "ks": [t.to_json() for t in pair_tests(summaries)],
        }
        if len(summaries) > 1:
            out["power"] = ks_power_of(summaries).to_json()
        print(json.dumps(out, indent=2))
    else:
        print(format_table(summaries))
        if len(summaries) > 1:
            print(format_ks(summaries))
    return 0


def cmd_fit(args) -> int:
    from zoo.spec import ModelSpec
    from zoo.sweep.fit import fit_regnet, fit_rows
    from zoo.sweep.table import read_rows

    rows = [r for d in _dirs(args.dirs) for r in read_rows(d, need=("spec",))]
    if not rows:
        from zoo.errors import SweepError

        raise SweepError(f"no finished trials in {', '.join(args.dirs)}; run the sweep first")
    top = args.top or max(3, round(0.1 * len(rows)))
    fit, chosen = fit_rows(rows, top)
    print(
        f"# the best {len(chosen)} of {len(rows)} models (errors {100 * chosen[0]['error']:.2f}%.."
        f"{100 * chosen[-1]['error']:.2f}%), mean e_fit {fit.e_fit:.4f}",
        file=sys.stderr,
    )
    print("#   (own e_fit: the model's fit to its own best rule; near 0: the model is a RegNet)", file=sys.stderr)
    for r in chosen:
        spec = ModelSpec.from_dict(r["spec"], where=f"trial {r['trial']}")
        print(
            f"#   {r['space']} trial {r['trial']}: error {100 * r['error']:.2f}%  d={spec.depths} w={spec.widths}"
            f"  own e_fit {fit_regnet([spec]).e_fit:.4f}",
            file=sys.stderr,
        )
    if fit.e_fit > FAR_FROM_REGNET:
        print(
            f"# note: mean e_fit {fit.e_fit:.3f} is large: no one RegNet rule fits these models closely; the "
            "line below is only the nearest one",
            file=sys.stderr,
        )
    print(fit.toml())
    return 0
