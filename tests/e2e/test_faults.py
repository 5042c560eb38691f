"""Services going down: callers get a clear error, and no usage is lost."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import func, select

from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LedgerEntry

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def suite(tmp_path: Path) -> Iterator[Suite]:
    running = start_suite(tmp_path, f"sqlite:///{tmp_path / 'tollgate.db'}")
    yield running
    stop_suite(running)


def ledger_count(suite: Suite) -> int:
    with suite.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LedgerEntry)).scalar_one())


def test_a_dead_budget_service_is_a_503_and_recovers(suite: Suite) -> None:
    _, secret = suite.project_with_key("p")
    suite.stop("budget", signal.SIGKILL)
    reply = httpx.post(
        f"{suite.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "demo", "messages": MESSAGES},
        timeout=30,
    )
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "service_unavailable"
    assert ledger_count(suite) == 0  # refused before any upstream call: nothing to bill
    suite.start("budget")
    suite.wait_healthy(("budget",))
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    assert sdk.chat.completions.create(model="demo", messages=MESSAGES).choices  # type: ignore[arg-type]


def test_usage_survives_a_dead_metering_service(suite: Suite) -> None:
    """Calls keep working while metering is down; their usage waits in the router's
    spool and lands exactly once when metering is back."""
    _, secret = suite.project_with_key("p")
    suite.stop("metering", signal.SIGKILL)
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    answers = [
        sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
        for _ in range(5)
    ]
    assert len(answers) == 5 and ledger_count(suite) == 0
    assert len(list((suite.home / "spool").glob("*.rec"))) == 5
    suite.start("metering")
    suite.wait_healthy(("metering",))
    deadline = time.monotonic() + 30
    while ledger_count(suite) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ledger_count(suite) == 5
    time.sleep(0.5)
    assert ledger_count(suite) == 5  # once each
    assert list((suite.home / "spool").glob("*.rec")) == []


def test_usage_spooled_by_a_dead_router_is_delivered_by_the_next(suite: Suite) -> None:
    _, secret = suite.project_with_key("p")
    suite.stop("metering", signal.SIGKILL)
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    for _ in range(3):
        sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    suite.stop("router", signal.SIGKILL)  # dies holding undelivered usage
    assert len(list((suite.home / "spool").glob("*.rec"))) == 3
    suite.start("metering")
    suite.start("router")
    suite.wait_healthy(("metering", "router"))
    deadline = time.monotonic() + 30
    while ledger_count(suite) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ledger_count(suite) == 3
