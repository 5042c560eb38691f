"""Authorize reads the key, its project, the price and whether a hard budget applies on
every call, with statements built once (in one read transaction; for a project it last
saw with a hard budget, inside the write transaction that holds): nothing it reads is
cached, so a change an operator makes holds from the very next call. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.prices import PriceInput, seed_prices, set_price
from services.budget.reservations import Decision, ReservationBook
from tollgate.config import load_settings
from tollgate.db import make_engine
from tollgate.db.models import RESERVATIONS

T0 = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)  # after the seeded prices take effect
SMALL_NANO = 126_000_000  # demo, 1000 + 1000 tokens: CNY 0.126


def world(url: str) -> tuple[ReservationBook, str, str, str]:
    engine = make_engine(url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "acme", currency="CNY")
    ci = admin.create_key(engine, "acme", "ci").info.id
    web = admin.create_key(engine, "acme", "web").info.id
    return ReservationBook(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600), project.id, ci, web


def reservations(ledger: ReservationBook) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RESERVATIONS)).scalar_one())


def held(ledger: ReservationBook, rid: str, project: str, key: str) -> int:
    result = ledger.authorize(rid, project, key, "demo", 1000, 1000, now=T0)
    assert result.decision is Decision.ALLOWED, result.message
    return result.reserved_nano


def test_only_a_hard_budget_of_the_project_or_of_this_key_holds(db_url: str) -> None:
    ledger, project, ci, web = world(db_url)
    assert held(ledger, "a", project, ci) == 0
    assert reservations(ledger) == 0  # no hard budget: nothing written at all
    budgets.set_budget(ledger.engine, "acme", key_id=web, period="daily", amount="100")
    assert held(ledger, "b", project, ci) == 0  # another key's budget
    assert held(ledger, "c", project, web) == SMALL_NANO  # from the very next call
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount="100", hard=False)
    assert held(ledger, "d", project, ci) == 0  # a soft budget holds nothing
    budgets.set_budget(ledger.engine, "acme", period="total", amount="100")
    assert held(ledger, "e", project, ci) == SMALL_NANO
    assert reservations(ledger) == 2


def test_a_changed_price_or_key_counts_from_the_next_call(db_url: str) -> None:
    ledger, project, ci, _ = world(db_url)
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount="100")
    assert held(ledger, "a", project, ci) == SMALL_NANO
    with ledger.engine.begin() as conn:  # twice the demo price, in force from T0
        set_price(conn, PriceInput("demo", "42", "210", None, "CNY"), effective_from=T0)
    assert held(ledger, "b", project, ci) == 2 * SMALL_NANO
    unpriced = ledger.authorize("c", project, ci, "no-such-model", 1, 1, now=T0)
    assert unpriced.decision is Decision.MODEL_NOT_PRICED
    admin.revoke_key(ledger.engine, ci)
    refused = ledger.authorize("d", project, ci, "demo", 1000, 1000, now=T0)
    assert refused.decision is Decision.KEY_REVOKED


def test_a_project_seen_with_a_hard_budget_is_still_read_on_every_call(db_url: str) -> None:
    # After a hold, Authorize begins with the write transaction and reads inside it;
    # what it reads there still decides, as in the read transaction.
    ledger, project, ci, _ = world(db_url)
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount="100")
    assert held(ledger, "a", project, ci) == SMALL_NANO
    assert held(ledger, "b", project, ci) == SMALL_NANO  # the one-transaction path
    assert budgets.delete_budget(ledger.engine, "acme", period="monthly")
    assert held(ledger, "c", project, ci) == 0  # the budget is gone: nothing held
    assert reservations(ledger) == 2
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount="0.2")
    assert held(ledger, "d", project, ci) == SMALL_NANO  # read again from the next call
    over = ledger.authorize("e", project, ci, "demo", 1000, 1000, now=T0)
    assert over.decision is Decision.BUDGET_EXCEEDED  # 0.126 held of 0.2: no room
    admin.revoke_key(ledger.engine, ci)
    refused = ledger.authorize("f", project, ci, "demo", 1000, 1000, now=T0)
    assert refused.decision is Decision.KEY_REVOKED
    assert reservations(ledger) == 3
