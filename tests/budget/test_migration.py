"""Migration 0002 turns each project's monthly limit into a monthly hard project
budget, keeps its spend counters and open holds, and drops the old column and table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import create_engine, inspect, text

from services.budget.admin import operations as admin
from services.budget.reservations import ReservationBook
from tollgate.db import make_engine, upgrade

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_monthly_limits_become_hard_monthly_budgets(empty_url: str) -> None:
    upgrade(empty_url, "0001")
    old = create_engine(empty_url)
    with old.begin() as conn:
        for pid, name, limit in [("proj_a", "a", 5 * 10**9), ("proj_b", "b", None)]:
            conn.execute(
                text(
                    "INSERT INTO projects (id, name, currency, monthly_budget_nano, created_at) "
                    "VALUES (:id, :name, 'CNY', :limit, :now)"
                ),
                {"id": pid, "name": name, "limit": limit, "now": NOW},
            )
        conn.execute(
            text(
                "INSERT INTO spend_counters VALUES "
                "('proj_a', '2026-11', 2000000000, 300000000), ('proj_b', '2026-11', 7, 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO reservations (request_id, project_id, key_id, model, period, "
                "currency, amount_nano, state, cost_nano, created_at, expires_at) VALUES "
                "('r1', 'proj_a', 'key_x', 'demo', '2026-11', 'CNY', 300000000, 'open', NULL, "
                ":now, :later)"
            ),
            {"now": NOW, "later": NOW + timedelta(minutes=10)},
        )
    old.dispose()

    upgrade(empty_url)
    engine = make_engine(empty_url)
    tables = set(inspect(engine).get_table_names())
    assert "spend_counters" not in tables and "budgets" in tables
    assert "monthly_budget_nano" not in {c["name"] for c in inspect(engine).get_columns("projects")}
    assert admin.get_project(engine, "a").monthly_budget == "5.00"
    assert admin.get_project(engine, "b").monthly_budget is None
    ledger = ReservationBook(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600)
    status = ledger.status("proj_a", NOW)
    assert (status.limit_nano, status.committed_nano, status.reserved_nano) == (
        5 * 10**9,
        2 * 10**9,
        300_000_000,
    )
    (line,) = status.lines
    assert (line.rule.period, line.rule.hard, line.rule.alert_at) == (
        "monthly",
        True,
        (50, 80, 100),
    )
    # The open reservation still holds against the migrated counter: releasing frees it.
    assert ledger.release("r1")
    assert ledger.status("proj_a", NOW).reserved_nano == 0
    engine.dispose()
