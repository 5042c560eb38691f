"""When Authorize lets the gateway reuse an ALLOWED answer without asking (`reuse_ms`),
on SQLite and PostgreSQL: only where nothing is held (no hard budget of the project or
the key), never for a refusal, a downgrade or a batch line, at most a second and never
past the key's expiry; and the gRPC answer carries it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.budget.admin import operations as admin
from services.budget.admin.budgets import set_budget
from services.budget.reservations import REUSE_MS, Decision, reuse_ms_for
from tests.budget.price_world import setup_project
from tollgate.db import utcnow
from tollgate.v1 import budget_pb2, common_pb2


def test_an_answer_that_holds_nothing_may_be_reused_for_a_second(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget=None)
    allowed = ledger.authorize("r1", project, key, "demo", 1000, 1000)
    assert (allowed.decision, allowed.reserved_nano, allowed.reuse_ms) == (
        Decision.ALLOWED,
        0,
        REUSE_MS,
    )
    assert REUSE_MS <= 1000
    # A batch line never reuses (its hold and price are its own).
    line = ledger.authorize("r2", project, key, "demo", 1, 1, batch_id="batch_1", hold_seconds=60)
    assert (line.decision, line.reuse_ms) == (Decision.ALLOWED, 0)


def test_no_reuse_where_a_hard_budget_applies(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget="1.00")
    held = ledger.authorize("r1", project, key, "demo", 10, 10)
    assert (held.decision, held.reuse_ms) == (Decision.ALLOWED, 0) and held.reserved_nano > 0
    # A hard budget of the key alone counts too; a soft one does not.
    beta = admin.create_project(ledger.engine, "beta", currency="CNY").id
    key2 = admin.create_key(ledger.engine, "beta").info.id
    set_budget(ledger.engine, "beta", period="daily", amount="5", key_id=key2, hard=False)
    assert ledger.authorize("s1", beta, key2, "demo", 10, 10).reuse_ms == REUSE_MS
    set_budget(ledger.engine, "beta", period="daily", amount="5", key_id=key2, hard=True)
    keyed = ledger.authorize("s2", beta, key2, "demo", 10, 10)
    assert (keyed.decision, keyed.reuse_ms) == (Decision.ALLOWED, 0)


def test_refusals_are_never_reusable(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget=None)
    unpriced = ledger.authorize("r1", project, key, "no-such-model", 10, 10)
    assert (unpriced.decision, unpriced.reuse_ms) == (Decision.MODEL_NOT_PRICED, 0)
    admin.revoke_key(ledger.engine, key)
    revoked = ledger.authorize("r2", project, key, "demo", 10, 10)
    assert (revoked.decision, revoked.reuse_ms) == (Decision.KEY_REVOKED, 0)


def test_reuse_never_outlives_the_keys_expiry() -> None:
    now = utcnow()
    assert reuse_ms_for(None, "", now) == REUSE_MS
    assert reuse_ms_for(now + timedelta(hours=1), "", now) == REUSE_MS
    assert reuse_ms_for(now + timedelta(milliseconds=300), "", now) == 300
    assert reuse_ms_for(now, "", now) == 0
    assert reuse_ms_for(None, "batch_1", now) == 0


def test_a_key_about_to_expire_gets_its_remaining_time(db_url: str) -> None:
    ledger, project, _ = setup_project(db_url, budget=None)
    key = admin.create_key(ledger.engine, "acme", expires_in_seconds=3600).info.id
    at = utcnow()
    soon = at + timedelta(seconds=3600) - timedelta(milliseconds=250)
    answer = ledger.authorize("r1", project, key, "demo", 10, 10, now=soon)
    assert answer.decision is Decision.ALLOWED and 0 < answer.reuse_ms <= 250


def test_the_grpc_answer_carries_reuse_ms(services: Any) -> None:
    s = services
    caller = common_pb2.Caller(project_id=s.project, key_id=s.key)

    def authorize(request_id: str) -> budget_pb2.AuthorizeResponse:
        reply: budget_pb2.AuthorizeResponse = s.budget.Authorize(
            budget_pb2.AuthorizeRequest(
                request_id=request_id, caller=caller, model="gpt-4o", prompt_tokens_estimate=10
            )
        )
        return reply

    admin.set_monthly_budget(s.engine, "acme", None)
    assert authorize("a").reuse_ms == REUSE_MS
    admin.set_monthly_budget(s.engine, "acme", "100")
    assert authorize("b").reuse_ms == 0
