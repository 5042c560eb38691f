"""What every command module shares: the database and the way a command is declared.

Nothing here imports SQLAlchemy, gRPC or a service at import time: `tollgate --help`
and a command that needs none of them must start quickly."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from tollgate.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

Command = Callable[[Settings, argparse.Namespace], int]


def engine_for(settings: Settings) -> Engine:
    """The database, brought up to the current schema first (a no-op when it is there
    already). Default prices are Budget's to seed: it does so as it starts."""
    from tollgate.db import make_engine, upgrade

    upgrade(settings.database_url)
    return make_engine(settings.database_url)


def add_command(
    parent: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    fn: Command,
    help: str,
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
    p.set_defaults(fn=fn)
    return p
