from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import postgres_schema
from tests.e2e.suite import Suite, start_suite, stop_suite


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def suite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    """The four services as separate processes on the built-in demo upstream, on
    SQLite and on PostgreSQL."""
    home: Path = tmp_path_factory.mktemp(f"suite-{request.param}")
    if request.param == "sqlite":
        running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}")
        yield running
        stop_suite(running)
    else:
        with postgres_schema() as url:
            running = start_suite(home, url)
            yield running
            stop_suite(running)
