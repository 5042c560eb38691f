"""Fixtures of the e2e tests, which run the suite as separate processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import postgres_schema
from tests.e2e.suite import Suite, start_suite, stop_suite
from tests.gateway.ratelimit_backends import REDIS_URL

E2E_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here starts the suite as separate processes: mark it e2e (the hook
    sees the whole session's items, so only those under tests/e2e are marked)."""
    for item in items:
        if item.path.is_relative_to(E2E_TESTS):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
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


@pytest.fixture(scope="module")
def redis_db_url() -> Iterator[str]:
    """A Redis database (index 1-15 of the test server) that holds no keys when the
    module starts, for a suite's shared rate-limit counters; emptied of the keys the
    module left when it ends (each key names a project of this module's own)."""
    base = REDIS_URL.rsplit("/", 1)[0]
    for index in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{index}")
        try:
            if client.dbsize() == 0:
                break
        finally:
            client.close()
    else:
        pytest.fail("no empty Redis database (1-15) for the replicated suite")
    url = f"{base}/{index}"
    yield url
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="tollgate:rl:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
