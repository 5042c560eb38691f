"""Metering's ListRecentCalls, the dashboard's recent calls: a project's latest ledger
rows newest first (ties broken by the row written last), each as ExportCalls records
it, no other project's, at most `limit`; bad requests refused naming the field.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from services.budget.admin import operations as admin
from services.metering.ledger import UsageLedger
from tests.metering.ledger_rows import entry
from tests.metering.services import Services
from tollgate.grpcparam import param_of
from tollgate.money import format_amount
from tollgate.v1 import metering_pb2

FIRST = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)


def test_the_latest_calls_newest_first(services: Services) -> None:
    s = services
    ledger = UsageLedger(s.engine)
    mine = {"project_id": s.project, "key_id": s.key}
    for i in range(7):  # one every 20 minutes, over midnight
        ledger.add(entry(f"c{i}", FIRST + timedelta(minutes=20 * i), 100 + i, **mine))
    ledger.add(entry("tie", FIRST + timedelta(minutes=120), 999, **mine))  # c6's instant
    other = admin.create_project(s.engine, "other").id
    ledger.add(entry("theirs", FIRST + timedelta(days=1), 5, project_id=other))

    page = s.metering.ListRecentCalls(metering_pb2.RecentCallsRequest(project="acme", limit=4))

    assert [c.request_id for c in page.calls] == ["tie", "c6", "c5", "c4"]
    assert [c.cost.amount for c in page.calls] == [format_amount(n) for n in (999, 106, 105, 104)]
    assert page.calls[1].started_at == "2026-11-30T01:00:00.000Z"
    assert (page.project, page.project_id) == ("acme", s.project)
    assert (page.from_day, page.to_day) == ("2026-11-30", "2026-11-30")

    every = s.metering.ListRecentCalls(metering_pb2.RecentCallsRequest(project=s.project))
    assert len(every.calls) == 8 and every.from_day == "2026-11-29"


def test_no_calls_is_an_empty_page(services: Services) -> None:
    page = services.metering.ListRecentCalls(metering_pb2.RecentCallsRequest(project="acme"))
    assert list(page.calls) == [] and page.from_day == ""


@pytest.mark.parametrize(
    ("request_", "code", "param"),
    [
        (metering_pb2.RecentCallsRequest(project="acme", limit=501), "INVALID_ARGUMENT", "limit"),
        (metering_pb2.RecentCallsRequest(project="acme", limit=-1), "INVALID_ARGUMENT", "limit"),
        (metering_pb2.RecentCallsRequest(limit=3), "INVALID_ARGUMENT", "project"),
        (metering_pb2.RecentCallsRequest(project="nobody"), "NOT_FOUND", ""),
    ],
)
def test_refusals_name_the_field(
    services: Services, request_: metering_pb2.RecentCallsRequest, code: str, param: str
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        services.metering.ListRecentCalls(request_)
    assert refused.value.code() == getattr(grpc.StatusCode, code)
    assert (param_of(refused.value) or "") == param
