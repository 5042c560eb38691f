"""The admin routes served in-process on SQLite and PostgreSQL, calling Budget's admin
RPCs on the shared `services` (tests/conftest.py): the `world` fixture the admin tests
share, and helpers to read what a call wrote."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from services.budget.admin import operations as admin
from services.gateway.admin import admin_routes
from tests.metering.services import Services
from tollgate.db.models import API_KEYS, BUDGETS, PRICES

TOKEN = "admin-token-in-process"


@dataclass
class World:
    http: TestClient
    engine: Engine
    project: str  # id of "acme"
    key: str  # a key of acme
    other_key: str  # a key of project "other"


@pytest.fixture
def world(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """`services` (its project acme, CNY, with its key named `ci`) and a project `other`
    with a key; the admin routes call Budget with the internal credential."""
    for name in [n for n in os.environ if n.startswith("TOLLGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TOLLGATE_HOME", "/nonexistent")
    engine = services.engine
    with engine.begin() as conn:
        conn.execute(update(API_KEYS).where(API_KEYS.c.id == services.key).values(name="ci"))
    admin.create_project(engine, "other", currency="CNY")
    other_key = admin.create_key(engine, "other").info.id
    app = Starlette(routes=admin_routes(engine, TOKEN, budget=services.budget))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield World(http, engine, services.project, services.key, other_key)


def ok(reply: Any) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def budget_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(BUDGETS).order_by(BUDGETS.c.id))]


def price_versions(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(PRICES).order_by(PRICES.c.id))]
