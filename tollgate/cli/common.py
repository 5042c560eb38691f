"""What every command module shares: the database and the way a command is declared."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from sqlalchemy import Engine

from tollgate.config import Settings
from tollgate.db import make_engine, upgrade

Command = Callable[[Settings, argparse.Namespace], int]


def engine_for(settings: Settings) -> Engine:
    """The database, brought up to the current schema and default prices first (a
    no-op when it is there already)."""
    from services.budget.prices import seed_prices

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    seed_prices(engine, settings)
    return engine


def add_command(
    parent: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    fn: Command,
    help: str,
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
    p.set_defaults(fn=fn)
    return p
