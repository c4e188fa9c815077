"""The `zoo train` and `zoo eval` subcommands, registered into the main parser by zoo.cli.

Heavy imports (jax, tfds, orbax) happen inside the commands, so `zoo list` stays fast.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import zoo.cli.checks as checks
import zoo.cli.console as console
from zoo.errors import TrainConfigError, ZooError
from zoo.train.config import DTYPES, TrainConfig

DEFAULTS = TrainConfig()  # the CLI and the API share one set of defaults, shown by --help


def _epochs_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs, e.g. 30,60,80; got {text!r}") from None


def _randaugment(text: str) -> tuple[int, float]:
    try:
        ops, magnitude = text.split(",")
        return int(ops), float(magnitude)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected N,M (operations per image, magnitude), e.g. 2,9; got {text!r}"
        ) from None


def _add_distributed(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("multi-host (jax.distributed); default from JAX_COORDINATOR_ADDRESS etc.")
    g.add_argument(
        "--coordinator", type=checks.coordinator, default=None, metavar="HOST:PORT", help="address of process 0"
    )
    g.add_argument("--num-processes", type=checks.positive_int, default=None)
    g.add_argument("--process-id", type=checks.non_negative_int, default=None)


MODEL_HELP = (
    "registry name (regnetx32), hf-hub:org/repo[@rev], local-dir:PATH, or the path of a folder written by "
    "`zoo train --out` / save_pretrained (on the command line a folder needs no prefix)"
)


def add_train_commands(sub) -> None:
    """Add `train` and `eval` to the `zoo` command's subparsers."""
    p = sub.add_parser(
        "train",
        help="train a model on a tfds dataset (default: the offline digits set)",
        description="Train MODEL (a registry name or a saved folder) with optax on every local "
        "device; see docs/training.md.",
    )
    d = DEFAULTS
    p.add_argument("model", type=checks.model_source, help=MODEL_HELP)
    p.add_argument(
        "--dataset",
        type=checks.dataset,
        default=d.dataset,
        help="digits (offline), mnist, fashion_mnist, any tfds image-classification name, or folder:PATH "
        "(an ImageFolder tree: one subfolder of images per class)",
    )
    p.add_argument(
        "--train-split",
        type=checks.split,
        default=d.train_split,
        help="split to train on (tfds syntax, e.g. train[:90%%])",
    )
    p.add_argument("--test-split", type=checks.split, default=d.test_split, help="split evaluated after each epoch")
    p.add_argument("--epochs", type=int, default=d.epochs, help="epochs; --resume may raise it (docs/training.md)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch, a multiple of the device count")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--optimizer", choices=("sgd", "nesterov", "adamw"), default=d.optimizer, help="optimizer")
    p.add_argument("--momentum", type=float, default=d.momentum, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="not applied to BN or bias parameters")
    p.add_argument("--schedule", choices=("constant", "cosine", "step"), default=d.schedule, help="lr schedule")
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs, help="linear warm-up length")
    p.add_argument("--step-epochs", type=_epochs_list, default=None, help="step schedule: epochs to decay at")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help="label smoothing")
    p.add_argument("--clip-grad-norm", type=float, default=None, help="clip gradients to this global norm")
    p.add_argument(
        "--image-size",
        type=checks.image_size,
        default=d.image_size,
        help="input side in pixels (0: the model's input size)",
    )
    p.add_argument(
        "--dtype",
        choices=DTYPES,
        default=None,
        help="compute dtype; parameters, BN statistics and the loss stay float32 (default: float32)",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=d.ema_decay,
        metavar="DECAY",
        help="keep an exponential moving average of the weights (e.g. 0.999), evaluated and saved; 0: off",
    )
    p.add_argument(
        "--accum-steps",
        type=int,
        default=d.accum_steps,
        metavar="K",
        help="accumulate the gradients of K steps per optimizer update (effective batch: batch size x K)",
    )
    p.add_argument(
        "--mixup",
        type=float,
        default=d.mixup_alpha,
        metavar="ALPHA",
        help="mix each training batch with itself reversed, lambda ~ Beta(ALPHA, ALPHA) (e.g. 0.2); 0: off",
    )
    p.add_argument(
        "--cutmix",
        type=float,
        default=d.cutmix_alpha,
        metavar="ALPHA",
        help="paste a box of the reversed batch into each image, its area ~ Beta(ALPHA, ALPHA) (e.g. 1.0); 0: off",
    )
    p.add_argument(
        "--mixup-switch-prob",
        type=float,
        default=d.mixup_switch_prob,
        metavar="P",
        help="with --mixup and --cutmix both on: the chance that a batch is cut-mixed",
    )
    p.add_argument(
        "--randaugment",
        type=_randaugment,
        default=None,
        metavar="N,M",
        help="RandAugment: N operations per training image at magnitude M (0-10), e.g. 2,9 (default: off)",
    )
    p.add_argument(
        "--randaugment-ops",
        type=int,
        default=None,
        metavar="N",
        help=f"RandAugment's operations per image, the N of --randaugment (default {d.randaugment_ops}: off)",
    )
    p.add_argument(
        "--randaugment-magnitude",
        type=float,
        default=None,
        metavar="M",
        help=f"RandAugment's magnitude, 0 to 10, the M of --randaugment (default {d.randaugment_magnitude:g})",
    )
    p.add_argument("--no-augment", action="store_true", help="no random crop / flip (RandAugment stays as set)")
    p.add_argument("--seed", type=checks.seed, default=d.seed, help="data order, augmentation and initialisation")
    p.add_argument(
        "--pretrained",
        nargs="?",
        const=True,
        default=False,
        metavar="TAG",
        help="start from pretrained weights (the default tag, or the tag named); a new head is made "
        "when --num-classes or the dataset differs",
    )
    p.add_argument(
        "--num-classes", type=checks.positive_int, default=None, help="classifier outputs (default: the dataset's)"
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="checkpoints, metrics.jsonl / .csv, curves.png, weights (default: runs/MODEL-YYYYmmdd-HHMMSS/)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out DIR from its last checkpoint")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="let a new run replace files already in --out DIR (a saved model, say); refused without it",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=d.checkpoint_every,
        metavar="STEPS",
        help="also checkpoint every STEPS steps (always at each epoch's end)",
    )
    p.add_argument("--data-dir", default=None, help="tfds data directory (default: tfds' own)")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log each epoch's metrics to DIR/tensorboard (needs tensorboardX: pip install "
        "'anynet-zoo[tensorboard]')",
    )
    p.add_argument("--quiet", action="store_true", help="one line per epoch and errors only")
    _add_distributed(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="top-1, top-5 and loss of a model on a dataset split")
    p.add_argument("model", type=checks.model_source, help=MODEL_HELP)
    p.add_argument("--dataset", type=checks.dataset, default="digits", help="a tfds name or folder:PATH")
    p.add_argument("--split", type=checks.split, default="test", help="tfds split, e.g. test or train[:10%%]")
    p.add_argument("--pretrained", nargs="?", const=True, default=False, metavar="TAG")
    p.add_argument("--batch-size", type=checks.positive_int, default=256, help="evaluation batch")
    p.add_argument(
        "--image-size", type=checks.image_size, default=None, help="input side (default: the model's input size)"
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_distributed(p)
    p.set_defaults(func=cmd_eval)


_SETTINGS = (
    "dataset",
    "train_split",
    "test_split",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "momentum",
    "weight_decay",
    "schedule",
    "warmup_epochs",
    "step_epochs",
    "label_smoothing",
    "clip_grad_norm",
    "seed",
    "checkpoint_every",
    "data_dir",
    "dtype",
    "accum_steps",
    "mixup_switch_prob",
    "randaugment_ops",
    "randaugment_magnitude",
)


def default_run_dir(model: str, root: str | Path = "runs") -> Path:
    """runs/NAME-YYYYmmdd-HHMMSS (timm's output/train habit), with -2, -3 ... when the second is taken."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(model).rstrip("/")).name).strip("._")[:80] or "model"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{name}-{stamp}"
    n = 2
    while path.exists():
        path = Path(root) / f"{name}-{stamp}-{n}"
        n += 1
    return path


# fit()'s arguments whose flag is not `--` + the name with dashes; a bool maps to (if True, if False).
_FLAG_OF: dict[str, str | tuple[str, str]] = {
    "out_dir": "--out",
    "ema_decay": "--ema",
    "mixup_alpha": "--mixup",
    "cutmix_alpha": "--cutmix",
    "augment": ("", "--no-augment"),
    "tensorboard": ("--tensorboard", ""),
    "resume": ("--resume", ""),
}
_NO_FLAG = {"precise_bn_images", "keep_checkpoints", "eval_batch_size"}
_ARGUMENTS = {*DEFAULTS.to_dict(), "out_dir", "resume", "overwrite", "pretrained", "num_classes"} - _NO_FLAG
_ARGUMENTS |= {"coordinator", "num_processes", "process_id"}
_NAMED = re.compile(r"\b([a-z][a-z0-9_]*)=('[^']*'|[^\s;,)]*)")


def as_flags(message: str) -> str:
    """A library message that names fit()'s arguments (`num_classes=3`), spelled as the flags (`--num-classes 3`)."""

    def flag(m: re.Match) -> str:
        name, value = m.group(1), m.group(2).strip("'")
        if name not in _ARGUMENTS:
            return m.group(0)
        tail = value[len(value.rstrip(".")) :]  # a sentence's full stop, not part of the value
        return _flag(name, value.rstrip(".")) + tail

    def _flag(name: str, value: str) -> str:
        spelled = _FLAG_OF.get(name, "--" + name.replace("_", "-"))
        if isinstance(spelled, tuple):
            return spelled[value == "False"] or f"{name}={value}"
        return f"{spelled} {value}" if value and value not in ("True", "None") else spelled

    return _NAMED.sub(flag, message)


def cmd_train(args: argparse.Namespace) -> int:
    try:
        return _train(args)
    except ZooError as err:
        err.args = (as_flags(str(err)),)
        raise
    except KeyboardInterrupt:
        resume = f"; to continue, rerun the same command with --out {args.out} --resume" if args.out else ""
        print(f"zoo: interrupted (train){resume}", file=sys.stderr)
        return 130


def _train(args: argparse.Namespace) -> int:
    if args.quiet:
        console.quiet()
    from zoo.train.sharding import initialize_distributed

    initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    import jax

    from zoo.api import cli_source
    from zoo.train import fit

    settings = {k: getattr(args, k) for k in _SETTINGS if getattr(args, k) is not None}
    settings["image_size"] = args.image_size or None
    settings["ema_decay"] = args.ema
    settings["mixup_alpha"], settings["cutmix_alpha"] = args.mixup, args.cutmix
    if args.randaugment is not None:
        if args.randaugment_ops is not None or args.randaugment_magnitude is not None:
            raise TrainConfigError("give --randaugment N,M or --randaugment-ops N --randaugment-magnitude M, not both")
        settings["randaugment_ops"], settings["randaugment_magnitude"] = args.randaugment
    if args.no_augment:
        settings["augment"] = False
    if args.tensorboard:
        settings["tensorboard"] = True
    config = DEFAULTS.replace(**settings)
    if args.resume and not args.out:
        raise TrainConfigError("--resume needs --out DIR: the directory of the run to continue")
    out = Path(args.out) if args.out else default_run_dir(args.model)
    args.out = str(out)  # named by the Ctrl-C line
    start = time.perf_counter()
    with _CtrlC() as ctrl_c:
        result = fit(
            cli_source(args.model),
            config,
            out_dir=out,
            resume=args.resume,
            overwrite=args.overwrite,
            pretrained=args.pretrained,
            num_classes=args.num_classes,
            progress="epochs" if args.quiet else True,
            on_step=ctrl_c.check,
        )
    if jax.process_index() == 0:
        test = result.test
        print(
            f"{config.dataset} test: top-1 {test['top1']:.4f}  top-5 {test['top5']:.4f}  loss {test['loss']:.4f}  "
            f"({len(result.history)} epochs, {time.perf_counter() - start:.0f} s on {jax.device_count()} device(s))"
        )
        print(f"weights, metrics.jsonl, metrics.csv and curves.png in {out}")
    return 0


class _CtrlC:
    """Ctrl-C between steps, where it is never lost.

    Python raises KeyboardInterrupt in whatever Python code runs when the signal comes, and where
    that is a garbage-collection callback (jax registers one) it is printed as "Exception ignored"
    and training goes on. Once steps run, the handler only notes the signal and the next step raises
    it; before (data, compile) it raises at once, as Python's own handler does.
    """

    def __init__(self) -> None:
        self.pending = self.stepping = False
        self.previous: Any = None

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is (
            signal.default_int_handler
        ):
            self.previous = signal.signal(signal.SIGINT, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.pending and exc[0] is None:
            raise KeyboardInterrupt  # the run ended before a step saw it: still an interrupted run

    def _on_signal(self, signum: int, frame: object) -> None:
        self.pending = True
        if not self.stepping:
            raise KeyboardInterrupt

    def check(self, step: int) -> None:
        self.stepping = True
        if self.pending:
            raise KeyboardInterrupt


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        return _eval(args)
    except ZooError as err:
        err.args = (as_flags(str(err)),)
        raise


def _eval(args: argparse.Namespace) -> int:
    from zoo.train.sharding import initialize_distributed

    initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    import jax

    import zoo
    from zoo.api import cli_source
    from zoo.train import evaluate
    from zoo.train.evaluate import saved_normalization

    model = zoo.load(cli_source(args.model), pretrained=args.pretrained)
    metrics = evaluate(
        model,
        args.dataset,
        args.split,
        batch_size=args.batch_size,
        image_size=args.image_size,
        normalization=saved_normalization(str(args.model).removeprefix("local-dir:")),
        data_dir=args.data_dir,
    )
    if jax.process_index() == 0:
        if args.json:
            print(json.dumps({"model": str(args.model), "dataset": args.dataset, "split": args.split, **metrics}))
        else:
            print(
                f"{args.model} on {args.dataset}[{args.split}] ({metrics['count']} images): "
                f"top-1 {metrics['top1']:.4f}  top-5 {metrics['top5']:.4f}  loss {metrics['loss']:.4f}"
            )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `zoo` command")
