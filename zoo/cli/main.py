"""The `zoo` command: the parser of every subcommand, and one way to report errors.

Errors the user caused print one `zoo: error:` line (no traceback) and exit with status 2; Ctrl-C
exits with 130, as a shell reports SIGINT. Each subcommand lives in its own module of this package
and imports what it needs (jax, tfds, Ray) only when it runs, so `zoo --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from zoo.cli.console import one_line_zoo_warnings
from zoo.cli.formatting import Parser
from zoo.errors import ZooError


def build_parser() -> Parser:
    from zoo.cli.hub import add_hub_commands
    from zoo.cli.models import add_model_commands
    from zoo.cli.sweep import add_sweep_commands
    from zoo.cli.train import add_train_commands
    from zoo.cli.tune import add_tune_commands
    from zoo.cli.usage import add_usage_commands

    parser = Parser(prog="zoo", description="anynet-zoo: AnyNet/RegNet models for JAX/Flax")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_commands in (
        add_model_commands,
        add_hub_commands,
        add_train_commands,
        add_sweep_commands,
        add_usage_commands,
        add_tune_commands,
    ):
        add_commands(sub)
    return parser


# Commands that compile models keep the compiled programs in JAX's persistent cache.
COMPILING_COMMANDS = ("train", "eval", "sweep")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    one_line_zoo_warnings()
    try:
        if args.command in COMPILING_COMMANDS:
            from zoo.compilation_cache import enable_compilation_cache

            enable_compilation_cache()
        code = args.func(args)
        sys.stdout.flush()
        return code
    except ZooError as err:
        print(f"zoo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"zoo: interrupted ({args.command})", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader left (`zoo info --json | head -1`): stop quietly, as Python's docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
