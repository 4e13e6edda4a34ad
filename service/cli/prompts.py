"""Asking questions on a terminal, and refusing to guess without one.

Questions go to stderr so that stdout carries only results (and `--json` stays
parseable). Without a terminal on stdin nothing is asked: a missing answer is an
error naming the flag that gives it.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CliError(Exception):
    """A one-line error for stderr; the command exits non-zero."""


class Prompter:
    def __init__(self, interactive: bool | None = None) -> None:
        self.interactive = sys.stdin.isatty() if interactive is None else interactive

    def _need_terminal(self, flag: str, what: str) -> None:
        if not self.interactive:
            raise CliError(f"{what} is missing and there is no terminal to ask: pass {flag}.")

    def ask(self, question: str, *, flag: str, what: str) -> str:
        """One line of answer (stripped); blank is allowed."""
        self._need_terminal(flag, what)
        sys.stderr.write(question)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise CliError(f"{what}: no answer (end of input); pass {flag}.")
        return line.strip()

    def secret(self, question: str, *, flag: str, what: str) -> str:
        """A line typed without echo."""
        self._need_terminal(flag, what)
        try:
            return getpass.getpass(question, stream=sys.stderr)
        except EOFError:
            raise CliError(f"{what}: no answer (end of input); pass {flag}.") from None

    def confirm(self, question: str, *, default: bool, yes: bool) -> bool:
        """True with --yes; else ask `question [Y/n]` (or `[y/N]`)."""
        if yes:
            return True
        self._need_terminal("--yes", "The confirmation")
        hint = "[Y/n]" if default else "[y/N]"
        for _ in range(3):
            answer = self.ask(f"{question} {hint} ", flag="--yes", what="The confirmation")
            if not answer:
                return default
            if answer.lower() in {"y", "yes"}:
                return True
            if answer.lower() in {"n", "no"}:
                return False
            sys.stderr.write("Please answer y or n.\n")
        raise CliError("No clear answer; nothing was done.")


def retry(read: Callable[[], T], attempts: int = 3) -> T:
    """Ask again after a refused answer (`read` raises CliError), on a terminal."""
    for attempt in range(attempts):
        try:
            return read()
        except CliError as err:
            if attempt == attempts - 1:
                raise
            sys.stderr.write(f"{err}\n")
    raise AssertionError("unreachable")  # pragma: no cover
