"""Metering's GetHourlySpend, the dashboard's hourly chart: every UTC hour of the range
at its ledger rows' exact sums (an empty hour at zero), oldest first, the edges of an
hour in the right one, another project's rows and rows outside the range left out;
bad requests refused naming the field. SQLite and PostgreSQL."""

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


def test_every_hour_sums_its_rows(services: Services) -> None:
    s = services
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    ledger = UsageLedger(s.engine)
    mine = {"project_id": s.project, "key_id": s.key}
    ledger.add(entry("now-a", hour, 1_000_000_007, **mine))  # the hour's first instant
    ledger.add(entry("now-b", now, 3, **mine, cache_hit=True, route_reason="cache"))
    last = hour - timedelta(microseconds=1)  # the previous hour's last instant
    ledger.add(entry("prev", last, 5, **mine, prompt_tokens=100, completion_tokens=7))
    ledger.add(entry("old", hour - timedelta(hours=4, minutes=1), 11, **mine))
    ledger.add(entry("too-old", hour - timedelta(hours=5, microseconds=1), 13, **mine))
    other = admin.create_project(s.engine, "other").id
    ledger.add(entry("other", hour, 17, project_id=other))

    reply = s.metering.GetHourlySpend(metering_pb2.HourlySpendRequest(project="acme", hours=6))

    assert reply.project == "acme" and reply.project_id == s.project
    starts = [hour - timedelta(hours=5 - i) for i in range(6)]
    assert [h.hour for h in reply.hours] == [t.strftime("%Y-%m-%dT%H:00:00Z") for t in starts]
    totals = [(h.total.amount, h.total.currency, h.requests) for h in reply.hours]
    assert totals == [
        (format_amount(11), "CNY", 1),
        (format_amount(0), "CNY", 0),
        (format_amount(0), "CNY", 0),
        (format_amount(0), "CNY", 0),
        (format_amount(5), "CNY", 1),
        (format_amount(1_000_000_010), "CNY", 2),
    ]
    assert (reply.hours[4].input_tokens, reply.hours[4].output_tokens) == (100, 7)
    assert reply.hours[5].cache_hits == 1 and reply.hours[5].input_tokens == 20


def test_default_is_a_day_of_hours(services: Services) -> None:
    reply = services.metering.GetHourlySpend(metering_pb2.HourlySpendRequest(project="acme"))
    assert len(reply.hours) == 24
    assert all(h.requests == 0 and h.total.currency == "CNY" for h in reply.hours)


@pytest.mark.parametrize(
    ("request_", "code", "param"),
    [
        (metering_pb2.HourlySpendRequest(project="acme", hours=169), "INVALID_ARGUMENT", "hours"),
        (metering_pb2.HourlySpendRequest(project="acme", hours=-1), "INVALID_ARGUMENT", "hours"),
        (metering_pb2.HourlySpendRequest(hours=3), "INVALID_ARGUMENT", "project"),
        (metering_pb2.HourlySpendRequest(project="nobody"), "NOT_FOUND", ""),
    ],
)
def test_refusals_name_the_field(
    services: Services, request_: metering_pb2.HourlySpendRequest, code: str, param: str
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        services.metering.GetHourlySpend(request_)
    assert refused.value.code() == getattr(grpc.StatusCode, code)
    assert (param_of(refused.value) or "") == param
