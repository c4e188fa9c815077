"""The `zoo` command line: one module per group of subcommands, each thin over the public API."""

from zoo.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
