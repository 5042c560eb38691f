"""Reservations and settlement on SQLite and PostgreSQL (invariant 3: hard budgets hold)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.budget.admin import operations as admin
from services.budget.prices import PriceInput, set_price
from services.budget.reservations import Decision, ReservationBook, Usage
from tests.budget.price_world import RATE, setup_project
from tollgate.db import make_engine, utcnow
from tollgate.db.models import Reservation


def test_reserve_then_settle_replaces_the_hold_by_the_cost(db_url: str) -> None:
    ledger, project, key = setup_project(db_url)
    # demo: CNY 21 / 105 per million; 1000 prompt + 1000 max output = 0.021 + 0.105
    result = ledger.authorize("r1", project, key, "demo", 1000, 1000)
    assert result.decision is Decision.ALLOWED
    assert result.reserved_nano == 126_000_000
    assert ledger.status(project).reserved_nano == 126_000_000

    settled = ledger.settle("r1", project, key, "demo", Usage(1000, 200), utcnow())
    assert settled.cost_nano == 21_000_000 + 21_000_000
    assert not settled.already_settled
    status = ledger.status(project)
    assert (status.committed_nano, status.reserved_nano) == (42_000_000, 0)


def test_settle_is_idempotent(db_url: str) -> None:
    ledger, project, key = setup_project(db_url)
    ledger.authorize("r1", project, key, "demo", 10, 10)
    first = ledger.settle("r1", project, key, "demo", Usage(10, 10), utcnow())
    again = ledger.settle("r1", project, key, "demo", Usage(999, 999), utcnow())
    assert again.already_settled and again.cost_nano == first.cost_nano
    assert ledger.status(project).committed_nano == first.cost_nano


def test_settle_without_reservation_still_charges_once(db_url: str) -> None:
    ledger, project, key = setup_project(db_url)
    one = ledger.settle("lost", project, key, "demo", Usage(1000, 0), utcnow())
    two = ledger.settle("lost", project, key, "demo", Usage(1000, 0), utcnow())
    assert one.cost_nano == 21_000_000 and two.already_settled
    assert ledger.status(project).committed_nano == 21_000_000


def test_a_call_that_does_not_fit_is_refused_with_a_clear_message(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget="0.10")
    assert ledger.authorize("a", project, key, "demo", 1000, 500).decision is Decision.ALLOWED
    refused = ledger.authorize("b", project, key, "demo", 1000, 500)
    assert refused.decision is Decision.BUDGET_EXCEEDED
    assert "acme" in refused.message and "CNY 0.10" in refused.message
    assert "resets at" in refused.message
    # Releasing the first hold makes room again.
    assert ledger.release("a")
    assert ledger.authorize("c", project, key, "demo", 1000, 500).decision is Decision.ALLOWED


def test_failed_calls_cost_nothing(db_url: str) -> None:
    ledger, project, key = setup_project(db_url)
    ledger.authorize("r", project, key, "demo", 1000, 1000)
    assert ledger.settle("r", project, key, "demo", Usage(), utcnow()).cost_nano == 0
    status = ledger.status(project)
    assert (status.committed_nano, status.reserved_nano) == (0, 0)


def test_revoked_and_foreign_keys_are_refused(db_url: str) -> None:
    ledger, project, key = setup_project(db_url)
    other = admin.create_project(ledger.engine, "other")
    assert ledger.authorize("x", other.id, key, "demo", 1, 1).decision is Decision.KEY_REVOKED
    admin.revoke_key(ledger.engine, key)
    assert ledger.authorize("y", project, key, "demo", 1, 1).decision is Decision.KEY_REVOKED


def test_unpriced_models_are_refused(db_url: str) -> None:
    ledger, project, key = setup_project(db_url)
    result = ledger.authorize("x", project, key, "no-such-model", 1, 1)
    assert result.decision is Decision.MODEL_NOT_PRICED
    assert "tollgate price set no-such-model" in result.message


@pytest.mark.parametrize("budget", [None, "100"], ids=["unlimited", "hard-limit"])
def test_old_calls_keep_the_price_in_force_when_they_started(
    db_url: str, budget: str | None
) -> None:
    ledger, project, key = setup_project(db_url, budget=budget)
    started_old = utcnow()
    ledger.authorize("old", project, key, "demo", 1000, 10)
    with ledger.engine.begin() as conn:
        set_price(conn, PriceInput("demo", "42", "210", None, "CNY"))
    started_new = utcnow()
    ledger.authorize("new", project, key, "demo", 1000, 10)
    old = ledger.settle("old", project, key, "demo", Usage(1000, 0), started_old)
    new = ledger.settle("new", project, key, "demo", Usage(1000, 0), started_new)
    assert (old.cost_nano, new.cost_nano) == (21_000_000, 42_000_000)


def test_unlimited_projects_hold_nothing(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget=None)
    result = ledger.authorize("r", project, key, "demo", 1000, 1000)
    assert (result.decision, result.reserved_nano) == (Decision.ALLOWED, 0)
    assert ledger.status(project).reserved_nano == 0
    assert ledger.settle("r", project, key, "demo", Usage(1000, 0), utcnow()).cost_nano > 0


def test_a_new_limit_applies_from_the_next_call(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget=None)
    assert ledger.authorize("a", project, key, "demo", 1000, 1000).decision is Decision.ALLOWED
    admin.set_monthly_budget(ledger.engine, "acme", "0.01")
    assert (
        ledger.authorize("b", project, key, "demo", 1000, 1000).decision is Decision.BUDGET_EXCEEDED
    )


def test_expired_reservations_are_released(db_url: str) -> None:
    ledger, project, key = setup_project(db_url)
    ledger.authorize("dead", project, key, "demo", 1000, 1000)
    assert ledger.expire(utcnow()) == 0
    assert ledger.expire(utcnow() + timedelta(seconds=601)) == 1
    assert ledger.status(project).reserved_nano == 0
    # A late settlement of the expired call is still billed, once.
    assert ledger.settle("dead", project, key, "demo", Usage(1000, 0), utcnow()).cost_nano > 0
    assert ledger.status(project).reserved_nano == 0


def test_concurrent_reservations_never_pass_the_hard_limit(db_url: str) -> None:
    """Two ledgers with their own engines (two replicas) and 16 threads race for a
    budget that fits exactly 10 calls; exactly 10 win."""
    first, project, key = setup_project(db_url, budget="1.26")  # 10 x 0.126
    second = ReservationBook(make_engine(db_url), usd_to_cny=RATE, ttl_seconds=600)
    results: list[Decision] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        ledger = first if n % 2 else second
        for i in range(5):
            decision = ledger.authorize(f"w{n}-{i}", project, key, "demo", 1000, 1000).decision
            with lock:
                results.append(decision)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(Decision.ALLOWED) == 10
    assert results.count(Decision.BUDGET_EXCEEDED) == 70
    status = first.status(project)
    assert status.reserved_nano == 1_260_000_000 == status.limit_nano
    with first.engine.connect() as conn:
        held = conn.execute(
            select(func.sum(Reservation.amount_nano)).where(Reservation.state == "open")
        ).scalar_one()
    assert held == status.reserved_nano


def test_the_worst_case_covers_every_choice_and_the_output_cap(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget="1000")
    one = ledger.authorize("one", project, key, "demo", 1000, 0)  # demo's cap: 4096 tokens
    three = ledger.authorize("three", project, key, "demo", 1000, 0, choices=3)
    assert one.reserved_nano == 21_000_000 + 4096 * 105_000
    assert three.reserved_nano == 21_000_000 + 3 * 4096 * 105_000
