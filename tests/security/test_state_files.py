"""Defect 9a: the state folder and the SQLite database (every project's keys' hashes,
spend and end users) are readable by the user tollgate runs as, and no one else."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from services.budget.admin import operations as admin
from tollgate.config import load_settings
from tollgate.db import make_engine, upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022), under which files are created world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_a_new_state_folder_and_database_are_private(tmp_path: Path) -> None:
    home = tmp_path / "srv" / "tollgate"  # neither folder exists yet
    settings = load_settings({"TOLLGATE_HOME": str(home)})
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    admin.create_project(engine, "acme")  # a write: SQLite's -wal and -shm now exist
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        database = home / "tollgate.db"
        files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    engine.dispose()
    assert (mode(home), mode(home.parent)) == (0o700, 0o700)


@pytest.mark.usefixtures("open_umask")
def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    url = f"sqlite:///{shared / 'tollgate.db'}"
    upgrade(url)
    database = shared / "tollgate.db"
    leftovers = [database.with_name(database.name + s) for s in ("-wal", "-shm")]
    for path in (database, *leftovers):
        path.touch()
        path.chmod(0o644)
    make_engine(url).dispose()
    assert [mode(p) for p in (database, *leftovers)] == [0o600, 0o600, 0o600]
    assert mode(shared) == 0o755  # an operator's folder keeps the mode they gave it
