"""Shared fixtures: databases on SQLite and on the real PostgreSQL server.

PostgreSQL tests use the server at TOLLGATE_TEST_POSTGRES_URL (default: the local
server's `test` database). Each test gets a schema of its own, dropped afterwards, so
tests never see each other's rows. When the server is down these tests fail, they do
not skip: storage must be proven on both databases.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from tollgate.db import upgrade

POSTGRES_URL = os.environ.get(
    "TOLLGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _with_schema(url: str, schema: str) -> str:
    option = quote(f"-csearch_path={schema}")
    return f"{url}{'&' if '?' in url else '?'}options={option}"


@contextmanager
def postgres_schema(revision: str | None = "head") -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, migrated to `revision`
    (None: no tables yet)."""
    schema = f"tg_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _with_schema(POSTGRES_URL, schema)
    try:
        if revision is not None:
            upgrade(url, revision)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'tollgate.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database with no tables yet, on SQLite and on PostgreSQL (the migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with postgres_schema(revision=None) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def services(db_url: str) -> Iterator[Any]:
    """Budget and Metering served in-process over real gRPC on `db_url` (SQLite and
    PostgreSQL), requiring a test internal token, with a project `acme` and one key of
    it: tests/metering/services.py. `services.client_env()` points a CLI at them."""
    from tests.metering.services import serving

    with serving(db_url) as running:
        yield running


@pytest.fixture
def bare_cli(tmp_path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    """The `tollgate` CLI with a state folder of its own and no other TOLLGATE_ setting:
    `bare_cli(*argv)` gives (exit code, stdout, stderr)."""
    from tollgate.cli.main import main

    for name in [n for n in os.environ if n.startswith("TOLLGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TOLLGATE_HOME", str(tmp_path))

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        out = capsys.readouterr()
        return int(exit_info.value.code or 0), out.out, out.err

    return run


@pytest.fixture
def cli(services: Any, bare_cli, monkeypatch):  # type: ignore[no-untyped-def]
    """`bare_cli` pointed at `services` (their Budget and Metering, with their internal
    token): `cli(*argv)` gives (exit code, stdout, stderr)."""
    for name, value in services.client_env().items():
        monkeypatch.setenv(name, value)
    return bare_cli
