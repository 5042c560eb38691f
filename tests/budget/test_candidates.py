"""A call is held at the dearest worst case of every model that may serve it (its
route's deployments and fallbacks: AuthorizeRequest.candidate_models), so a fallback
to a dearer model cannot pass a hard budget; a candidate without a price refuses the
call. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from services.budget.admin import operations as admin
from services.budget.admin import policies
from services.budget.prices import PriceInput, seed_prices, set_price
from services.budget.reservations import Decision, ReservationBook, Usage
from tollgate.config import load_settings
from tollgate.db import make_engine, utcnow

RATE = Decimal("7.2")
# CNY per million tokens, input / output; each call below is 1000 + 1000 tokens.
PRICES = {"primary": ("1", "2"), "backup": ("30", "60"), "tiny": ("0.1", "0.2")}
PRIMARY_WORST = 3_000_000  # 0.001 + 0.002
BACKUP_WORST = 90_000_000  # 0.030 + 0.060
TINY_WORST = 300_000


def setup(url: str, budget: str | None) -> tuple[ReservationBook, str, str]:
    engine = make_engine(url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    with engine.begin() as conn:
        for model, (given, made) in PRICES.items():
            set_price(conn, PriceInput(model, given, made, None, "CNY"))
    project = admin.create_project(engine, "acme", currency="CNY", monthly_budget=budget)
    key = admin.create_key(engine, "acme")
    return ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=600), project.id, key.info.id


def test_the_hold_is_the_dearest_candidates_worst_case(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="1.00")
    alone = ledger.authorize("a", project, key, "primary", 1000, 1000)
    assert alone.reserved_nano == PRIMARY_WORST
    routed = ledger.authorize("b", project, key, "primary", 1000, 1000, candidates=["backup"])
    assert routed.decision is Decision.ALLOWED and routed.reserved_nano == BACKUP_WORST
    # Cheaper candidates change nothing: the served model's own worst case stays.
    cheap = ledger.authorize("c", project, key, "primary", 1000, 1000, candidates=["tiny"])
    assert cheap.reserved_nano == PRIMARY_WORST
    assert ledger.status(project).reserved_nano == PRIMARY_WORST + BACKUP_WORST + PRIMARY_WORST


def test_a_budget_that_fits_only_the_primary_refuses_a_call_a_dearer_fallback_may_serve(
    db_url: str,
) -> None:
    ledger, project, key = setup(db_url, budget="0.05")  # primary's 0.003 fits, backup's 0.09 not
    refused = ledger.authorize("a", project, key, "primary", 1000, 1000, candidates=["backup"])
    assert refused.decision is Decision.BUDGET_EXCEEDED
    assert "this call may cost up to CNY 0.09" in refused.message
    assert ledger.status(project).reserved_nano == 0


def test_the_fallbacks_bill_settles_exactly_within_its_hold(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="0.10")
    held = ledger.authorize("a", project, key, "primary", 1000, 1000, candidates=["backup"])
    assert held.reserved_nano == BACKUP_WORST
    # The primary failed; the backup answered with its whole output cap.
    settled = ledger.settle("a", project, key, "backup", Usage(1000, 1000), utcnow())
    assert settled.cost_nano == BACKUP_WORST
    status = ledger.status(project)
    assert (status.committed_nano, status.reserved_nano) == (BACKUP_WORST, 0)
    assert status.committed_nano <= 100_000_000


def test_an_unpriced_candidate_refuses_the_call_with_or_without_a_hard_budget(
    db_url: str,
) -> None:
    """Served by a model with no price, the call could not be billed: refused before it runs."""
    ledger, hard, hard_key = setup(db_url, budget="1.00")
    free = admin.create_project(ledger.engine, "open", currency="CNY").id
    free_key = admin.create_key(ledger.engine, "open").info.id
    for project, key in ((hard, hard_key), (free, free_key)):
        answer = ledger.authorize(
            f"r-{project}", project, key, "primary", 10, 10, candidates=["primary", "ghost"]
        )
        assert answer.decision is Decision.MODEL_NOT_PRICED
        assert "`ghost`" in answer.message and "calls to `primary`" in answer.message
        assert "tollgate price set ghost" in answer.message
        assert ledger.status(project).reserved_nano == 0
    # The served model's own missing price keeps its own message.
    answer = ledger.authorize("r", hard, hard_key, "ghost", 10, 10, candidates=["primary"])
    assert answer.decision is Decision.MODEL_NOT_PRICED
    assert answer.message.startswith("The model `ghost` has no price yet")


def test_a_downgrade_is_held_at_its_own_routes_dearest_candidate(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="1.00")
    policies.set_project_policy(ledger.engine, "acme", downgrade_at_percent=1)
    ledger.settle("spent", project, key, "backup", Usage(1000, 1000), utcnow())  # 9% used
    # The cheaper model's route may fall back to `primary`: held at primary's worst case.
    answer = ledger.authorize(
        "a",
        project,
        key,
        "backup",
        1000,
        1000,
        downgrade_model="tiny",
        downgrade_candidates=["tiny", "primary"],
    )
    assert answer.decision is Decision.DOWNGRADED and answer.reserved_nano == PRIMARY_WORST
    alone = ledger.authorize("b", project, key, "backup", 1000, 1000, downgrade_model="tiny")
    assert alone.decision is Decision.DOWNGRADED and alone.reserved_nano == TINY_WORST
    # A cheaper route that may reach an unpriced model is no downgrade: the asked one serves.
    kept = ledger.authorize(
        "c",
        project,
        key,
        "backup",
        1000,
        1000,
        downgrade_model="tiny",
        downgrade_candidates=["ghost"],
    )
    assert kept.decision is Decision.ALLOWED and kept.reserved_nano == BACKUP_WORST
