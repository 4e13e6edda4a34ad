"""What every command gets: the parsed flags, the instance connector, the prompter."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from service.cli.prompts import CliError, Prompter
from service.sdk.base import run
from service.sdk.config import get_connector
from service.sdk.connector import Connector


@dataclass
class Context:
    args: argparse.Namespace
    rest: list[str]
    prompter: Prompter = field(default_factory=Prompter)
    _conn: Connector | None = None
    _config: dict | None = None

    @property
    def conn(self) -> Connector:
        if self._conn is None:
            try:
                self._conn = get_connector(self.args.instance)
            except ValueError as err:
                raise CliError(str(err)) from None
        return self._conn

    def config(self) -> dict:
        """The instance's token policy (default lifetime, scopes), fetched once."""
        if self._config is None:
            self._config = run(self.conn.aconfig())
        return self._config

    def no_args(self, command: str) -> None:
        if self.rest:
            raise CliError(f"mrsm {command} takes no argument here: {' '.join(self.rest)} "
                           "(see mrsm --help).")

    def one_id(self, command: str) -> str:
        if len(self.rest) != 1:
            raise CliError(f"Give one token ID: mrsm {command} ID "
                           "(the IDs are in `mrsm show tokens`).")
        return self.rest[0]

    def token_id(self, command: str) -> str:
        """The full ID of the one token named, by its ID or a unique prefix of it."""
        return run(self.conn.aresolve_token_id(self.one_id(command)))
