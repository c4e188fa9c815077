"""The parser class every subcommand shares: --help shows defaults where there are some."""

from __future__ import annotations

import argparse
from typing import NoReturn


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default, except where there is none to show (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if (
            action.default is None
            or action.default is False
            or "%(default)" in (action.help or "")
            or "(default" in (action.help or "")
        ):
            return action.help or ""
        return super()._get_help_string(action) or ""


class Parser(argparse.ArgumentParser):
    """Every subcommand's parser (and theirs) formats help with DefaultsFormatter."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """A bad flag is one `zoo: error:` line, as every other error is (argparse prints the usage too)."""
        self.exit(2, f"zoo: error: {self.prog}: {message} (see `{self.prog} --help`)\n")
