"""SettleBatch: many settlements in one transaction, each exactly as Settle would do it
(costs, counters, alerts, idempotence), on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any, NoReturn

import grpc
import pytest
from sqlalchemy import Engine, select

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.prices import seed_prices
from services.budget.reservations import Decision, ReservationBook, SettleCall, Settlement, Usage
from services.budget.server import BudgetServicer
from tollgate.config import load_settings
from tollgate.db import make_engine, utcnow
from tollgate.db.models import ALERT_EVENTS, BUDGET_COUNTERS, BUDGETS, RESERVATIONS
from tollgate.v1 import budget_pb2, common_pb2

RATE = Decimal("7.2")
MODELS = ("demo", "gpt-4o-mini", "claude-sonnet-4-5", "no-such-model")


def _project(engine: Engine, name: str) -> tuple[str, list[str]]:
    """A project with a hard monthly budget, a soft daily one, two keys, and a hard
    lifetime budget on the first key; every budget alerts at several thresholds."""
    project = admin.create_project(engine, name, currency="CNY").id
    keys = [admin.create_key(engine, name).info.id for _ in range(2)]
    budgets.set_budget(engine, name, period="monthly", amount="0.60", alert_at="10,30,50,80,100")
    budgets.set_budget(engine, name, period="daily", amount="0.30", hard=False, alert_at="50,100")
    budgets.set_budget(
        engine, name, period="total", amount="0.40", key_id=keys[0], alert_at="25,50,75"
    )
    return project, keys


def _book(url: str) -> tuple[ReservationBook, Engine]:
    engine = make_engine(url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    return ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=600), engine


def _state(engine: Engine, project: str, keys: list[str]) -> dict[str, Any]:
    """The project's counters and alerts, named by owner and period (not by id)."""
    with engine.connect() as conn:
        rules = {
            row.id: (
                "project" if row.key_id is None else f"key{keys.index(row.key_id)}",
                row.period,
            )
            for row in conn.execute(select(BUDGETS).where(BUDGETS.c.project_id == project))
        }
        counters = sorted(
            (rules[row.budget_id], row.period_key, row.committed_nano, row.reserved_nano)
            for row in conn.execute(select(BUDGET_COUNTERS))
            if row.budget_id in rules
        )
        events = sorted(
            (rules[row.budget_id], row.period_key, row.threshold, row.amount_nano)
            for row in conn.execute(
                select(ALERT_EVENTS).where(ALERT_EVENTS.c.project_id == project)
            )
        )
        states = sorted(
            (row.request_id.split("-", 1)[1], row.state, row.cost_nano)
            for row in conn.execute(
                select(RESERVATIONS).where(RESERVATIONS.c.project_id == project)
            )
        )
    return {"counters": counters, "alerts": events, "reservations": states}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_batch_settles_as_one_settle_after_another(db_url: str, seed: int) -> None:
    ledger, engine = _book(db_url)
    projects = {name: _project(engine, name) for name in ("alone", "batched")}
    rng = random.Random(seed)
    now = utcnow()
    # Calls over 12 request ids (so some settle twice), some authorized first, some a
    # day earlier (another daily counter), one model without a price.
    plan = []
    for _ in range(40):
        plan.append(
            (
                f"r{rng.randrange(12)}",
                rng.randrange(2),
                rng.choice(MODELS),
                Usage(rng.randrange(3000), rng.randrange(2000), rng.randrange(2) * 100),
                now - timedelta(days=rng.randrange(2)),
                rng.random() < 0.6,
            )
        )
    answers: dict[str, list[Settlement]] = {}
    for name, (project, keys) in projects.items():
        calls = []
        for request, key, model, usage, started, authorize in plan:
            request_id = f"{name}-{request}"
            if authorize:
                held = ledger.authorize(request_id, project, keys[key], "demo", 500, 500)
                assert held.decision in (Decision.ALLOWED, Decision.BUDGET_EXCEEDED)
            calls.append(SettleCall(request_id, project, keys[key], model, usage, started))
        if name == "alone":
            answers[name] = [ledger.settle_many([call])[0] for call in calls]
        else:
            cuts = sorted(rng.sample(range(1, len(calls)), 3))
            answers[name] = []
            for start, end in zip([0, *cuts], [*cuts, len(calls)], strict=True):
                answers[name].extend(ledger.settle_many(calls[start:end]))
    assert answers["batched"] == answers["alone"]
    assert any(a.already_settled for a in answers["alone"])
    alone, batched = (_state(engine, *projects[name]) for name in ("alone", "batched"))
    assert batched == alone
    assert alone["alerts"], "the plan should cross some thresholds"
    engine.dispose()


def test_a_request_twice_in_one_batch_is_billed_once(db_url: str) -> None:
    ledger, engine = _book(db_url)
    project, keys = _project(engine, "acme")
    ledger.authorize("held", project, keys[1], "demo", 1000, 1000)
    now = utcnow()
    calls = [
        SettleCall("held", project, keys[1], "demo", Usage(1000, 200), now),
        SettleCall("lost", project, keys[1], "demo", Usage(1000, 0), now),
        SettleCall("held", project, keys[1], "demo", Usage(9999, 9999), now),
        SettleCall("lost", project, keys[1], "demo", Usage(9999, 9999), now),
    ]
    results = ledger.settle_many(calls)
    # demo: CNY 21 / 105 per million
    assert [(r.cost_nano, r.already_settled) for r in results] == [
        (42_000_000, False),
        (21_000_000, False),
        (42_000_000, True),
        (21_000_000, True),
    ]
    status = ledger.status(project)
    assert (status.committed_nano, status.reserved_nano) == (63_000_000, 0)
    engine.dispose()


def test_a_hard_budget_is_exact_after_a_batch(db_url: str) -> None:
    ledger, engine = _book(db_url)
    project, keys = _project(engine, "acme")
    held = [f"r{n}" for n in range(3)]
    for request_id in held:  # each holds CNY 0.126 of the key's CNY 0.40
        assert (
            ledger.authorize(request_id, project, keys[0], "demo", 1000, 1000).decision
            is Decision.ALLOWED
        )
    refused = ledger.authorize("r3", project, keys[0], "demo", 1000, 1000)
    assert refused.decision is Decision.BUDGET_EXCEEDED
    now = utcnow()
    ledger.settle_many(
        [SettleCall(r, project, keys[0], "demo", Usage(1000, 100), now) for r in held]
    )
    lines = {line.rule.period: line for line in ledger.status(project).lines}
    # each costs 0.021 + 0.0105 = CNY 0.0315; nothing is held any more
    assert (lines["total"].committed_nano, lines["total"].reserved_nano) == (94_500_000, 0)
    assert (lines["monthly"].committed_nano, lines["monthly"].reserved_nano) == (94_500_000, 0)
    assert ledger.authorize("r5", project, keys[0], "demo", 1000, 1000).decision is Decision.ALLOWED
    engine.dispose()


class _Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Context:
    def abort(self, code: grpc.StatusCode, message: str) -> NoReturn:
        raise _Aborted(code, message)

    def invocation_metadata(self) -> tuple[()]:
        return ()


def _settle(request_id: str, project: str, key: str, prompt: int = 1000) -> Any:
    return budget_pb2.SettleRequest(
        request_id=request_id,
        caller=common_pb2.Caller(project_id=project, key_id=key),
        model="demo",
        usage=common_pb2.Usage(prompt_tokens=prompt),
    )


def test_settle_batch_answers_each_in_order_and_refuses_a_malformed_one(db_url: str) -> None:
    ledger, engine = _book(db_url)
    project, keys = _project(engine, "acme")
    servicer = BudgetServicer(ledger)
    batch = budget_pb2.SettleBatchRequest(
        settles=[_settle("a", project, keys[1]), _settle("b", project, keys[1], -1)]
    )
    with pytest.raises(_Aborted) as refused:
        servicer.SettleBatch(batch, _Context())
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "settles[1] ('b')" in str(refused.value)
    assert ledger.status(project).committed_nano == 0  # nothing settled
    batch = budget_pb2.SettleBatchRequest(
        settles=[_settle("a", project, keys[1]), _settle("b", project, keys[1], 2000)]
    )
    answer = servicer.SettleBatch(batch, _Context())
    assert [(r.cost.amount, r.already_settled) for r in answer.results] == [
        ("0.021", False),
        ("0.042", False),
    ]
    engine.dispose()


class _FailingBook(ReservationBook):
    """A book whose batches of more than one fail, as does settling `bad` at all."""

    def settle_many(self, calls: Any) -> list[Settlement]:
        if len(calls) > 1 or calls[0].request_id == "bad":
            raise RuntimeError("the batch's transaction failed")
        return super().settle_many(calls)


def test_a_failed_batch_is_settled_one_by_one(db_url: str) -> None:
    _, engine = _book(db_url)
    project, keys = _project(engine, "acme")
    servicer = BudgetServicer(_FailingBook(engine, usd_to_cny=RATE, ttl_seconds=600))
    good = [_settle("a", project, keys[1]), _settle("b", project, keys[1], 2000)]
    answer = servicer.SettleBatch(budget_pb2.SettleBatchRequest(settles=good), _Context())
    assert [r.cost.amount for r in answer.results] == ["0.021", "0.042"]
    batch = [_settle("bad", project, keys[1]), _settle("c", project, keys[1])]
    with pytest.raises(_Aborted) as failed:
        servicer.SettleBatch(budget_pb2.SettleBatchRequest(settles=batch), _Context())
    assert failed.value.code is grpc.StatusCode.INTERNAL and "bad" in str(failed.value)
    # the other settled all the same
    assert servicer.ledger.status(project).committed_nano == 84_000_000
    engine.dispose()
