"""Holds of Batch API lines on SQLite and PostgreSQL: Authorize with a batch holds at
the batch price for the batch's window (not the default TTL), the long holds count
against hard budgets however many lines race for them, Release frees a line, and the
gRPC contract refuses a hold it cannot keep."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from services.budget.admin import operations as admin
from services.budget.prices import seed_prices
from services.budget.reference import SettleTerms
from services.budget.reservations import Decision, HoldTooLong, ReservationBook, Usage
from tollgate.config import load_settings
from tollgate.db import as_utc, make_engine, utcnow
from tollgate.db.models import RESERVATIONS
from tollgate.money import to_nano
from tollgate.v1 import budget_pb2, common_pb2

RATE = Decimal("7.2")
TTL = 600
DAY = 24 * 3600
# gpt-4o (USD 2.5 in, 10 out per million), 1000 prompt + 1000 output tokens at most:
# 0.0125 whole, 0.00625 at the batch price.
WHOLE_NANO = to_nano("0.0125")
BATCH_NANO = to_nano("0.00625")


def setup(url: str, budget: str | None) -> tuple[ReservationBook, str, str]:
    engine = make_engine(url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "acme", currency="USD", monthly_budget=budget)
    key = admin.create_key(engine, "acme")
    return ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=TTL), project.id, key.info.id


def line(ledger: ReservationBook, request_id: str, project: str, key: str, **kw: Any) -> Any:
    return ledger.authorize(
        request_id, project, key, "gpt-4o", 1000, 1000, batch_id="batch_1", hold_seconds=DAY, **kw
    )


def test_a_batch_line_is_held_at_the_batch_price_for_its_window(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="100")
    now = utcnow()
    direct = ledger.authorize("direct", project, key, "gpt-4o", 1000, 1000, now=now)
    batch = line(ledger, "line", project, key, now=now)
    assert (direct.reserved_nano, batch.reserved_nano) == (WHOLE_NANO, BATCH_NANO)
    with ledger.engine.connect() as conn:
        expires = dict(
            conn.execute(select(RESERVATIONS.c.request_id, RESERVATIONS.c.expires_at)).all()
        )
    assert as_utc(expires["direct"]) - now == timedelta(seconds=TTL)
    assert as_utc(expires["line"]) - now == timedelta(seconds=DAY)


def test_a_long_hold_outlives_the_default_ttl_and_keeps_counting(db_url: str) -> None:
    # Room for exactly four batch lines.
    ledger, project, key = setup(db_url, budget="0.025")
    now = utcnow()
    for n in range(4):
        assert line(ledger, f"l{n}", project, key, now=now).decision is Decision.ALLOWED
    assert line(ledger, "l4", project, key, now=now).decision is Decision.BUDGET_EXCEEDED
    # Past the default TTL the sweeper frees nothing: the lines are still running.
    assert ledger.expire(now + timedelta(seconds=TTL + 1)) == 0
    assert ledger.status(project).reserved_nano == 4 * BATCH_NANO
    later = now + timedelta(seconds=TTL + 2)
    assert line(ledger, "l5", project, key, now=later).decision is Decision.BUDGET_EXCEEDED
    # Past the batch's window, they are dead: freed.
    assert ledger.expire(now + timedelta(seconds=DAY + 1)) == 4
    assert ledger.status(project).reserved_nano == 0


def test_release_frees_a_long_hold(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="0.00625")  # one line
    assert line(ledger, "a", project, key).decision is Decision.ALLOWED
    assert line(ledger, "b", project, key).decision is Decision.BUDGET_EXCEEDED
    assert ledger.release("a")
    assert not ledger.release("a")  # once
    assert line(ledger, "b", project, key).decision is Decision.ALLOWED


def test_a_settled_line_replaces_its_hold_by_the_batch_cost(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="100")
    line(ledger, "a", project, key)
    settled = ledger.settle(
        "a", project, key, "gpt-4o", Usage(1000, 200), utcnow(), SettleTerms(batch_id="batch_1")
    )
    assert settled.cost_nano == to_nano("0.00225")  # (1000 x 2.5 + 200 x 10) / 2 / 1M
    assert settled.reference_nano == to_nano("0.0045")
    status = ledger.status(project)
    assert (status.committed_nano, status.reserved_nano) == (to_nano("0.00225"), 0)


def test_a_held_line_settles_at_the_batch_price_even_when_settle_omits_its_batch(
    db_url: str,
) -> None:
    ledger, project, key = setup(db_url, budget="100")
    line(ledger, "a", project, key)
    settled = ledger.settle("a", project, key, "gpt-4o", Usage(1000, 200), utcnow())
    assert (settled.cost_nano, settled.reference_nano) == (to_nano("0.00225"), to_nano("0.0045"))
    with ledger.engine.connect() as conn:
        kept = conn.execute(
            select(RESERVATIONS.c.batch_id).where(RESERVATIONS.c.request_id == "a")
        ).scalar_one()
    assert kept == "batch_1"
    # A direct call is not made a batch line by anything.
    ledger.authorize("d", project, key, "gpt-4o", 1000, 1000)
    direct = ledger.settle("d", project, key, "gpt-4o", Usage(1000, 200), utcnow())
    assert direct.cost_nano == to_nano("0.0045")


@pytest.mark.parametrize("seconds", [-1, 7 * DAY + 1])
def test_a_hold_it_cannot_keep_is_refused(db_url: str, seconds: int) -> None:
    ledger, project, key = setup(db_url, budget="100")
    with pytest.raises(HoldTooLong):
        ledger.authorize(
            "x", project, key, "gpt-4o", 1, 1, batch_id="batch_1", hold_seconds=seconds
        )


def test_concurrent_batch_lines_never_pass_the_hard_limit(db_url: str) -> None:
    """Two replicas (engines of their own) and 12 threads race with long batch holds
    for a budget that fits exactly 8 lines; exactly 8 win, and the default TTL's
    sweep frees none of them."""
    first, project, key = setup(db_url, budget="0.05")  # 8 x 0.00625
    second = ReservationBook(make_engine(db_url), usd_to_cny=RATE, ttl_seconds=TTL)
    results: list[Decision] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        ledger = first if n % 2 else second
        for i in range(4):
            decision = line(ledger, f"w{n}-{i}", project, key).decision
            with lock:
                results.append(decision)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(Decision.ALLOWED) == 8
    assert results.count(Decision.BUDGET_EXCEEDED) == 40
    assert first.expire(utcnow() + timedelta(seconds=TTL + 1)) == 0
    status = first.status(project)
    assert status.reserved_nano == 8 * BATCH_NANO == status.limit_nano
    with first.engine.connect() as conn:
        held = conn.execute(
            select(func.sum(RESERVATIONS.c.amount_nano)).where(RESERVATIONS.c.state == "open")
        ).scalar_one()
    assert held == status.reserved_nano


def test_authorize_over_grpc_holds_batch_lines_and_refuses_bad_holds(services: Any) -> None:
    s = services
    admin.set_monthly_budget(s.engine, "acme", "100")
    caller = common_pb2.Caller(project_id=s.project, key_id=s.key)

    def authorize(request_id: str, **kw: Any) -> budget_pb2.AuthorizeResponse:
        reply: budget_pb2.AuthorizeResponse = s.budget.Authorize(
            budget_pb2.AuthorizeRequest(
                request_id=request_id,
                caller=caller,
                model="claude-sonnet-4-5",
                prompt_tokens_estimate=1000,
                max_completion_tokens=1000,
                **kw,
            )
        )
        return reply

    direct = authorize("direct")
    batch = authorize("line", batch_id="batch_abc", hold_seconds=DAY)
    # The project is in CNY: USD (1000 x 3.75 + 1000 x 15) / 1M x 7.2, halved.
    assert direct.reserved.amount == "0.135"
    assert batch.reserved.amount == "0.0675"
    with pytest.raises(grpc.RpcError) as refused:
        authorize("long-id", batch_id="b" * 65, hold_seconds=DAY)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "batch_id" in (refused.value.details() or "")
    with pytest.raises(grpc.RpcError) as refused:
        s.budget.Settle(
            budget_pb2.SettleRequest(
                request_id="long-id", caller=caller, model="gpt-4o", batch_id="b" * 65
            )
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    for seconds in (-5, 7 * DAY + 1):
        with pytest.raises(grpc.RpcError) as refused:
            authorize(f"bad{seconds}", batch_id="batch_abc", hold_seconds=seconds)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "hold_seconds" in (refused.value.details() or "")
