"""Shared parts for the OpenAI SDK end-to-end tests: a prompt, unique project names,
a client for a key, and the ledger rows a project's calls leave."""

from __future__ import annotations

import uuid

import openai
from sqlalchemy import select

from tests.e2e.suite import Suite
from tollgate.db.models import LedgerEntry

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is a token bucket?"},
]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def client(suite: Suite, secret: str, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0, **kw)  # type: ignore[arg-type]


def ledger_rows(suite: Suite, project_id: str) -> list[LedgerEntry]:
    with suite.engine.connect() as conn:
        return list(
            conn.execute(select(LedgerEntry.__table__).where(LedgerEntry.project_id == project_id))
        )


def wait_rows(suite: Suite, project_id: str, count: int, timeout: float = 15) -> list:  # type: ignore[type-arg]
    """Usage is recorded by the router right after the answer; wait for it to land."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        rows = ledger_rows(suite, project_id)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
