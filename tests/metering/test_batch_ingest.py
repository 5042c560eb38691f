"""Metering.RecordUsageBatch (issue 12): a batch of records is written as RecordUsage
writes each of them (same costs, same idempotence by request id, same dead letters and
refusals, one answer per record), settled with one Budget.SettleBatch and written in
one transaction. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DataError

from services.metering.callers import CallerCheck
from services.metering.deadletters import DeadLetters
from services.metering.ingest import Ingest, Refused
from services.metering.ledger import Entry, Recorded, UsageLedger
from services.metering.rollups import rebuild_rollups
from tests.metering.services import Services, usage_record
from tollgate.db.models import ALERT_EVENTS, DEAD_LETTERS, LEDGER, ROLLUPS
from tollgate.v1 import budget_pb2, common_pb2, metering_pb2

COST = ("73.50", "CNY")  # of 1,000,000 prompt and 500,000 completion tokens of demo


class Unavailable(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


class CountingBudget:
    """Budget's stub with its settlements counted; `batch` answers SettleBatch itself
    when given (to play a Budget without it, or one that refuses)."""

    def __init__(
        self,
        stub: Any,
        batch: Callable[..., Any] | None = None,
        refuse: frozenset[str] = frozenset(),
    ) -> None:
        self._stub = stub
        self._batch = batch
        self._refuse = refuse  # request ids whose Settle is refused
        self.batches: list[int] = []  # the size of each SettleBatch
        self.settles: list[str] = []  # the request id of each Settle

    def SettleBatch(self, request: budget_pb2.SettleBatchRequest, **kw: Any) -> Any:  # noqa: N802
        self.batches.append(len(request.settles))
        if self._batch is not None:
            return self._batch(request, **kw)
        return self._stub.SettleBatch(request, **kw)

    def Settle(self, request: budget_pb2.SettleRequest, **kw: Any) -> Any:  # noqa: N802
        self.settles.append(request.request_id)
        if request.request_id in self._refuse:
            raise Unavailable(grpc.StatusCode.INVALID_ARGUMENT)
        return self._stub.Settle(request, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)


def _ingest(s: Services, budget: Any, ledger: UsageLedger | None = None) -> Ingest:
    return Ingest(
        ledger or UsageLedger(s.engine), budget, CallerCheck(s.engine), DeadLetters(s.engine)
    )


def _count(s: Services, table: Any) -> int:
    with s.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _end_users(s: Services) -> dict[str, str]:
    """The ledger's rows: request id -> end user."""
    with s.engine.connect() as conn:
        rows = conn.execute(select(LEDGER.c.request_id, LEDGER.c.end_user))
        return {r.request_id: r.end_user for r in rows}


def _rollups_match_the_ledger(s: Services) -> None:
    with s.engine.connect() as conn:
        kept = sorted(tuple(r) for r in conn.execute(select(ROLLUPS)).all())
    with s.engine.begin() as conn:
        rebuild_rollups(conn)
        rebuilt = sorted(tuple(r) for r in conn.execute(select(ROLLUPS)).all())
    assert kept == rebuilt


def _costs(reply: metering_pb2.RecordUsageBatchResponse) -> list[tuple[str, str, str, bool]]:
    return [
        (r.request_id, r.recorded.cost.amount, r.recorded.cost.currency, r.recorded.duplicate)
        for r in reply.results
    ]


def test_a_batch_writes_one_row_and_one_settlement_per_record(services: Services) -> None:
    s = services
    sent = [usage_record(s, f"b-{n}", 1_000_000, 500_000) for n in range(5)]
    sent.append(
        usage_record(
            s,
            "b-small",
            1_000,
            0,
            caller=common_pb2.Caller(project_id=s.project, key_id=s.key, end_user="bob"),
        )
    )
    reply = s.metering.RecordUsageBatch(metering_pb2.UsageBatch(records=sent))
    assert [r.request_id for r in reply.results] == [r.request_id for r in sent]
    assert all(r.HasField("recorded") and not r.refused for r in reply.results)
    one = s.metering.RecordUsage(usage_record(s, "single", 1_000, 0))  # as RecordUsage bills
    assert _costs(reply) == [(f"b-{n}", *COST, False) for n in range(5)] + [
        ("b-small", one.cost.amount, one.cost.currency, False)
    ]
    assert _count(s, LEDGER) == 7
    _rollups_match_the_ledger(s)


def test_one_settle_batch_settles_the_batch(services: Services) -> None:
    s = services
    budget = CountingBudget(s.budget)
    outcomes = _ingest(s, budget).record_batch(
        [usage_record(s, f"c-{n}", 1_000_000, 500_000) for n in range(4)]
    )
    assert budget.batches == [4] and budget.settles == []
    assert [(o.cost_nano, o.duplicate) for o in outcomes if isinstance(o, Recorded)] == [
        (73_500_000_000, False)
    ] * 4
    assert _count(s, LEDGER) == 4


def test_duplicates_in_a_batch_and_across_batches_are_written_once(services: Services) -> None:
    s = services
    first = s.metering.RecordUsage(usage_record(s, "d-0", 1_000_000, 500_000))
    assert not first.duplicate
    sent = [
        usage_record(s, "d-0", 1_000_000, 500_000),  # in the ledger already
        usage_record(s, "d-1", 1_000_000, 500_000),
        usage_record(s, "d-1", 2_000_000, 500_000),  # a second copy in the batch
        usage_record(s, "d-2", 1_000_000, 500_000),
    ]
    reply = s.metering.RecordUsageBatch(metering_pb2.UsageBatch(records=sent))
    assert _costs(reply) == [
        ("d-0", *COST, True),
        ("d-1", *COST, False),
        ("d-1", *COST, True),  # the first copy's cost
        ("d-2", *COST, False),
    ]
    again = s.metering.RecordUsageBatch(metering_pb2.UsageBatch(records=sent[1:]))
    assert [r.recorded.duplicate for r in again.results] == [True, True, True]
    assert _count(s, LEDGER) == 3
    _rollups_match_the_ledger(s)


def test_poison_records_do_not_stop_the_rest_of_their_batch(services: Services) -> None:
    s = services
    nul = common_pb2.Caller(project_id=s.project, key_id=s.key, end_user="ali\x00ce")
    forged = common_pb2.Caller(project_id=s.project, key_id="no-such-key")
    sent = [
        usage_record(s, "p-ok-1", 1_000_000, 500_000),
        usage_record(s, "p-nul", 1_000_000, 500_000, caller=nul),  # dead letter, billed
        usage_record(s, "p-forged", 1_000_000, 500_000, caller=forged),  # refused for good
        usage_record(s, "p-nostatus", 1, 1, status=metering_pb2.CALL_STATUS_UNSPECIFIED),
        usage_record(s, "p-ok-2", 1_000_000, 500_000),
    ]
    for _ in range(2):  # sent again, each answer is the same, and alerts once
        reply = s.metering.RecordUsageBatch(metering_pb2.UsageBatch(records=sent))
        refused = {r.request_id: r.refused for r in reply.results if r.refused}
        assert set(refused) == {"p-forged", "p-nostatus"}
        assert "no-such-key" in refused["p-forged"] and "status" in refused["p-nostatus"]
        written = [r.request_id for r in reply.results if r.HasField("recorded")]
        assert written == ["p-ok-1", "p-nul", "p-ok-2"]
        assert {r.recorded.cost.amount for r in reply.results if r.HasField("recorded")} == {
            COST[0]
        }
    assert _end_users(s) == {"p-ok-1": "alice", "p-nul": "alice", "p-ok-2": "alice"}
    with s.engine.connect() as conn:
        (letter,) = conn.execute(select(DEAD_LETTERS)).all()
        alerts = conn.execute(select(ALERT_EVENTS.c.subject)).scalars().all()
    assert letter.request_id == "p-nul" and letter.alerted_at is not None
    assert metering_pb2.UsageRecord.FromString(letter.record) == sent[1]
    assert alerts == ["dead_letter:p-nul"]


class RefusingLedger(UsageLedger):
    """A database that refuses any row with text past ASCII (as PostgreSQL refuses
    what make_safe let through): the batch's transaction fails as a whole."""

    def add(self, entry: Entry) -> Recorded:
        if not entry.end_user.isascii():
            raise DataError("INSERT", {}, Exception("invalid byte sequence"))
        return super().add(entry)

    def add_many(self, entries: Any) -> list[Recorded]:
        if any(not entry.end_user.isascii() for entry in entries):
            raise DataError("INSERT", {}, Exception("invalid byte sequence"))
        return super().add_many(entries)


def test_a_row_the_database_refuses_is_a_dead_letter_and_the_rest_are_written(
    services: Services,
) -> None:
    s = services
    odd = common_pb2.Caller(project_id=s.project, key_id=s.key, end_user="zoë")
    sent = [
        usage_record(s, "r-1", 1_000_000, 500_000),
        usage_record(s, "r-odd", 1_000_000, 500_000, caller=odd),
        usage_record(s, "r-2", 1_000_000, 500_000),
    ]
    outcomes = _ingest(s, s.budget, RefusingLedger(s.engine)).record_batch(sent)
    assert [(o.cost_nano, o.duplicate) for o in outcomes if isinstance(o, Recorded)] == [
        (73_500_000_000, False)
    ] * 3
    assert _end_users(s) == {"r-1": "alice", "r-odd": "zo", "r-2": "alice"}
    with s.engine.connect() as conn:
        (letter,) = conn.execute(select(DEAD_LETTERS)).all()
    assert letter.request_id == "r-odd" and "the ledger refused it" in letter.error
    _rollups_match_the_ledger(s)


def test_without_settle_batch_each_record_is_settled_on_its_own(services: Services) -> None:
    s = services

    def unimplemented(request: Any, **kw: Any) -> Any:
        raise Unavailable(grpc.StatusCode.UNIMPLEMENTED)

    budget = CountingBudget(s.budget, unimplemented)
    ingest = _ingest(s, budget)
    outcomes = ingest.record_batch(
        [usage_record(s, f"u-{n}", 1_000_000, 500_000) for n in range(3)]
    )
    assert budget.settles == ["u-0", "u-1", "u-2"]
    assert all(isinstance(o, Recorded) and o.cost_nano == 73_500_000_000 for o in outcomes)
    ingest.record_batch([usage_record(s, "u-3", 1, 1)])  # no SettleBatch asked this time
    assert budget.batches == [3] and budget.settles[3:] == ["u-3"]
    assert _count(s, LEDGER) == 4


def test_a_record_budget_refuses_is_sent_again_and_the_rest_are_written(
    services: Services,
) -> None:
    s = services

    def refuse_the_batch(request: Any, **kw: Any) -> Any:
        raise Unavailable(grpc.StatusCode.INVALID_ARGUMENT)  # for one record's sake

    budget = CountingBudget(s.budget, refuse_the_batch, refuse=frozenset({"x-bad"}))
    bad = usage_record(s, "x-bad", 1, 1)
    outcomes = _ingest(s, budget).record_batch(
        [usage_record(s, "x-1", 1_000_000, 500_000), bad, usage_record(s, "x-2", 1, 1)]
    )
    assert budget.settles == ["x-1", "x-bad", "x-2"]
    assert isinstance(outcomes[0], Recorded) and isinstance(outcomes[2], Recorded)
    assert outcomes[1] is None  # not written: the router keeps it and sends it again
    assert sorted(_end_users(s)) == ["x-1", "x-2"]


def test_budget_out_of_reach_writes_nothing_of_the_batch(services: Services) -> None:
    s = services

    def down(request: Any, **kw: Any) -> Any:
        raise Unavailable(grpc.StatusCode.UNAVAILABLE)

    budget = CountingBudget(s.budget, down)
    with pytest.raises(Refused) as refused:
        _ingest(s, budget).record_batch([usage_record(s, "y-1", 1, 1)])
    assert refused.value.code is grpc.StatusCode.UNAVAILABLE
    assert budget.settles == [] and _count(s, LEDGER) == 0


def test_an_empty_batch_has_an_empty_answer(services: Services) -> None:
    reply = services.metering.RecordUsageBatch(metering_pb2.UsageBatch())
    assert list(reply.results) == []
