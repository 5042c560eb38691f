"""Many Authorizes in one (ReservationBook.authorize_many, Budget.AuthorizeBatch): each
call is decided exactly as it would be alone, in order, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import func, select

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.holds import HoldTooLong
from services.budget.reservations import Authorization, AuthorizeCall, Decision, Usage
from services.budget.server import BudgetServicer
from tests.budget.price_world import setup_project
from tollgate.db import utcnow
from tollgate.db.models import BUDGET_COUNTERS, HOLDS, RESERVATIONS
from tollgate.v1 import budget_pb2, common_pb2

PER_CALL = 126_000_000  # demo: 1000 prompt + 1000 output tokens at CNY 21 / 105 per M


def call(rid: str, project: str, key: str, **fields: object) -> AuthorizeCall:
    return AuthorizeCall(rid, project, key, str(fields.pop("model", "demo")), 1000, 1000, **fields)  # type: ignore[arg-type]


def decisions(outcomes: list[Authorization | ValueError]) -> list[object]:
    return [o.decision if isinstance(o, Authorization) else type(o) for o in outcomes]


def table_counts(ledger) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """(reservations, holds, committed, reserved) across the database."""
    with ledger.engine.connect() as conn:
        reservations = conn.execute(select(func.count()).select_from(RESERVATIONS)).scalar_one()
        holds = conn.execute(select(func.count()).select_from(HOLDS)).scalar_one()
        committed, reserved = conn.execute(
            select(
                func.coalesce(func.sum(BUDGET_COUNTERS.c.committed_nano), 0),
                func.coalesce(func.sum(BUDGET_COUNTERS.c.reserved_nano), 0),
            )
        ).one()
    return int(reservations), int(holds), int(committed), int(reserved)


def test_a_batch_allows_exactly_what_fits_in_order(db_url: str) -> None:
    # Room for 3 calls of 0.126, not 4: the first three are held, the rest refused.
    ledger, project, key = setup_project(db_url, budget="0.4")
    outcomes = ledger.authorize_many([call(f"r{i}", project, key) for i in range(6)])
    assert decisions(outcomes) == [Decision.ALLOWED] * 3 + [Decision.BUDGET_EXCEEDED] * 3
    assert [o.reserved_nano for o in outcomes[:3]] == [PER_CALL] * 3  # type: ignore[union-attr]
    refused = outcomes[3]
    assert isinstance(refused, Authorization) and "CNY 0.378 held" in refused.message
    assert table_counts(ledger) == (3, 3, 0, 3 * PER_CALL)
    # Each settles as a call held alone would.
    for i in range(3):
        ledger.settle(f"r{i}", project, key, "demo", Usage(1000, 0), utcnow())
    assert table_counts(ledger)[1:] == (0, 3 * 21_000_000, 0)


def test_a_batch_answers_like_the_calls_alone(db_url: str) -> None:
    """The same calls, once in a batch and once one at a time on a twin database:
    the same answers and the same rows."""
    ledger, project, key = setup_project(db_url, budget="0.5")
    twin = admin.create_project(ledger.engine, "twin", currency="CNY", monthly_budget="0.5").id
    twin_key = admin.create_key(ledger.engine, "twin").info.id

    def script(p: str, k: str) -> list[AuthorizeCall]:
        return [
            call("a", p, k),
            call("b", p, k, model="no-such-model"),
            call("c", p, k, hold_seconds=10**9),
            call("d", p, k, choices=2),
            call("e", p, k),
            call("f", p, k),
        ]

    ledger.authorize("a", project, key, "demo", 1000, 1000)  # held before: a repeat
    ledger.authorize("twin-a", twin, twin_key, "demo", 1000, 1000)
    batch = ledger.authorize_many(script(project, key))
    alone: list[Authorization | ValueError] = []
    for each in script(twin, twin_key):
        each = dataclasses.replace(each, request_id=f"twin-{each.request_id}")
        try:
            alone.append(ledger.authorize_call(each))
        except ValueError as exc:
            alone.append(exc)
    assert decisions(batch) == decisions(alone)
    assert decisions(batch) == [
        Decision.ALLOWED,
        Decision.MODEL_NOT_PRICED,
        HoldTooLong,
        Decision.ALLOWED,
        Decision.ALLOWED,
        Decision.BUDGET_EXCEEDED,
    ]
    for ours, theirs in zip(batch, alone, strict=True):
        if isinstance(ours, Authorization):
            assert isinstance(theirs, Authorization)
            message = theirs.message.replace("twin", "acme")
            assert (ours.reserved_nano, ours.message) == (theirs.reserved_nano, message)
    # a, d (two choices: 0.021 + 2 x 0.105) and e held; f refused.
    assert ledger.status(project).reserved_nano == 2 * PER_CALL + 231_000_000
    assert ledger.status(twin).reserved_nano == ledger.status(project).reserved_nano


def test_a_finished_request_fails_alone_and_holds_nothing(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget="1.0")
    ledger.authorize("done", project, key, "demo", 1000, 1000)
    ledger.settle("done", project, key, "demo", Usage(1000, 0), utcnow())
    outcomes = ledger.authorize_many([call("done", project, key), call("new", project, key)])
    assert isinstance(outcomes[0], ValueError) and "already finished" in str(outcomes[0])
    assert decisions(outcomes)[1] is Decision.ALLOWED
    assert table_counts(ledger) == (2, 1, 21_000_000, PER_CALL)


def test_the_same_request_twice_in_a_batch_is_held_once(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget="1.0")
    outcomes = ledger.authorize_many([call("x", project, key), call("x", project, key)])
    assert decisions(outcomes) == [Decision.ALLOWED, Decision.ALLOWED]
    assert table_counts(ledger) == (1, 1, 0, PER_CALL)


def test_project_and_key_budgets_of_several_keys_in_one_batch(db_url: str) -> None:
    """Calls of three keys interleaved: each key's own hard budget (room for 2) and
    the project's (room for 5) both hold, each hold counted once per counter."""
    ledger, project, first = setup_project(db_url, budget="0.7")
    keys = [first] + [admin.create_key(ledger.engine, "acme").info.id for _ in range(2)]
    for key in keys:
        budgets.set_budget(ledger.engine, "acme", key_id=key, period="monthly", amount="0.3")
    calls = [call(f"r{i}", project, keys[i % 3]) for i in range(9)]
    outcomes = ledger.authorize_many(calls)
    allowed = [
        c.key_id
        for c, o in zip(calls, outcomes, strict=True)
        if isinstance(o, Authorization) and o.decision is Decision.ALLOWED
    ]
    assert len(allowed) == 5
    assert max(allowed.count(k) for k in keys) == 2
    # 5 reservations, each held on its key's counter and the project's.
    assert table_counts(ledger) == (5, 10, 0, 2 * 5 * PER_CALL)


def test_a_non_hard_project_is_not_held_and_may_be_reused(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget=None)
    outcomes = ledger.authorize_many([call("a", project, key), call("b", project, key)])
    assert decisions(outcomes) == [Decision.ALLOWED, Decision.ALLOWED]
    assert all(isinstance(o, Authorization) and o.reuse_ms > 0 for o in outcomes)
    assert table_counts(ledger) == (0, 0, 0, 0)


class _Context:
    def invocation_metadata(self) -> tuple[()]:
        return ()

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise AssertionError(f"the batch itself failed: {code} {details}")


def test_authorize_batch_fails_a_malformed_call_alone(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget="1.0")
    caller = common_pb2.Caller(project_id=project, key_id=key)

    def request(rid: str, **fields: object) -> budget_pb2.AuthorizeRequest:
        sizes = {"prompt_tokens_estimate": 1000, "max_completion_tokens": 1000, **fields}
        return budget_pb2.AuthorizeRequest(
            request_id=rid,
            caller=caller,
            model="demo",
            **sizes,  # type: ignore[arg-type]
        )

    ledger.authorize("done", project, key, "demo", 1000, 1000)
    ledger.settle("done", project, key, "demo", Usage(1000, 0), utcnow())
    answer = BudgetServicer(ledger).AuthorizeBatch(
        budget_pb2.AuthorizeBatchRequest(
            calls=[
                request("a"),
                request("bad", prompt_tokens_estimate=-1),
                request("done"),
                request("b", max_completion_tokens=10**8),
            ]
        ),
        _Context(),  # type: ignore[arg-type]
    )
    codes = [o.code for o in answer.outcomes]
    ok, bad, finished = (
        grpc.StatusCode.OK.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
    )
    assert codes == [ok, bad, finished, ok]
    assert "negative" in answer.outcomes[1].error
    assert answer.outcomes[0].response.decision == budget_pb2.AuthorizeResponse.ALLOWED
    assert answer.outcomes[0].response.reserved.amount == "0.126"
    assert answer.outcomes[3].response.decision == budget_pb2.AuthorizeResponse.BUDGET_EXCEEDED
    assert table_counts(ledger)[:2] == (2, 1)


def test_expired_holds_of_a_batch_are_released(db_url: str) -> None:
    ledger, project, key = setup_project(db_url, budget="1.0")
    ledger.authorize_many([call("a", project, key), call("b", project, key)])
    assert ledger.expire(utcnow() + timedelta(hours=1)) == 2
    assert table_counts(ledger) == (2, 0, 0, 0)


@pytest.mark.parametrize("size", [1, 40])
def test_batches_of_any_size_keep_the_counter_equal_to_the_holds(db_url: str, size: int) -> None:
    ledger, project, key = setup_project(db_url, budget="100")
    for start in range(0, 80, size):
        ledger.authorize_many([call(f"r{i}", project, key) for i in range(start, start + size)])
    with ledger.engine.connect() as conn:
        held = conn.execute(select(func.sum(HOLDS.c.amount_nano))).scalar_one()
    assert table_counts(ledger) == (80, 80, 0, 80 * PER_CALL) and held == 80 * PER_CALL
