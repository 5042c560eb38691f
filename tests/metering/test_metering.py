"""Metering over real gRPC with a real Budget service, on SQLite and PostgreSQL:
ingest is idempotent (invariant 2) and reports are exact sums (invariant 1)."""

from __future__ import annotations

import json
from decimal import Decimal

import grpc
import pytest
from sqlalchemy import func, select

from tests.metering.services import Services, record
from tollgate.db.models import LedgerEntry
from tollgate.money import from_nano
from tollgate.v1 import budget_pb2, common_pb2, metering_pb2


def test_record_prices_through_budget_and_settles_the_reservation(services: Services) -> None:
    s = services
    s.budget.Authorize(
        budget_pb2.AuthorizeRequest(
            request_id="r1",
            caller=common_pb2.Caller(project_id=s.project, key_id=s.key),
            model="demo",
            prompt_tokens_estimate=1_000_000,
            max_completion_tokens=500_000,
        )
    )
    reply = record(s, "r1", 1_000_000, 500_000)
    assert (reply.cost.amount, reply.cost.currency, reply.duplicate) == ("73.50", "CNY", False)
    status = s.budget.GetBudgetStatus(budget_pb2.GetBudgetStatusRequest(project_id=s.project))
    assert (status.spent.amount, status.reserved.amount) == ("73.50", "0.00")


def test_repeated_delivery_leaves_one_row(services: Services) -> None:
    first = record(services, "dup", 100, 10)
    for _ in range(3):
        again = record(services, "dup", 100, 10)
        assert again.duplicate and again.cost == first.cost
    with services.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
    assert rows == 1


def test_failed_calls_are_recorded_at_zero_and_not_counted(services: Services) -> None:
    reply = record(services, "f", 500, 0, status=metering_pb2.CALL_STATUS_FAILED, http_status=502)
    assert reply.cost.amount == "0.00"
    report = services.metering.GetUsageReport(
        metering_pb2.UsageReportRequest(project_id=services.project)
    )
    assert report.requests == 0 and report.total.amount == "0.00"


def test_report_totals_equal_the_sum_of_ledger_rows(services: Services) -> None:
    counts = [(17, 3), (1234, 567), (1, 1), (99_999, 12_345), (5, 0)]
    for i, (prompt, completion) in enumerate(counts):
        record(services, f"r{i}", prompt, completion)
    record(services, "p", 10, 7, status=metering_pb2.CALL_STATUS_PARTIAL)
    report = services.metering.GetUsageReport(
        metering_pb2.UsageReportRequest(project_id=services.project)
    )
    with services.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(LedgerEntry.cost_nano)).scalars().all()
    assert Decimal(report.total.amount) == from_nano(sum(rows))
    assert report.requests == 6
    assert report.input_tokens == sum(p for p, _ in counts) + 10
    assert report.output_tokens == sum(c for _, c in counts) + 7
    (line,) = report.by_model
    assert line.model == "demo" and line.total == report.total
    # Exact: 21 and 105 CNY per million tokens.
    expected = sum(Decimal(p) * 21 + Decimal(c) * 105 for p, c in [*counts, (10, 7)]) / 10**6
    assert Decimal(report.total.amount) == expected


def test_bad_records_are_refused_and_write_nothing(services: Services) -> None:
    with pytest.raises(grpc.RpcError) as info:
        record(services, "neg", -1, 0)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError):
        services.metering.RecordUsage(metering_pb2.UsageRecord(request_id="x"))
    with services.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 0


def test_count_tokens_matches_the_gateway_estimate(services: Services) -> None:
    from tollgate import tokens

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    reply = services.metering.CountTokens(
        metering_pb2.CountTokensRequest(
            model="gpt-4o", body=json.dumps({"model": "gpt-4o", "messages": messages}).encode()
        )
    )
    assert reply.prompt_tokens == tokens.count_chat_prompt(messages, "gpt-4o")
    assert reply.encoding == "o200k_base"


def test_get_report_groups_any_days_with_exact_totals(services: Services) -> None:
    s = services
    for i, (user, prompt) in enumerate([("alice", 100), ("bob", 2000), ("alice", 30)]):
        caller = common_pb2.Caller(project_id=s.project, key_id=s.key, end_user=user)
        record(s, f"g{i}", prompt, 7, caller=caller)
    record(s, "g0", 100, 7)  # redelivered: counted once
    reply = s.metering.GetReport(
        metering_pb2.ReportRequest(project_id=s.project, group_by=["user", "model"])
    )
    assert list(reply.group_by) == ["user", "model"]
    assert [(line.end_user, line.model, line.requests) for line in reply.lines] == [
        ("alice", "demo", 2),
        ("bob", "demo", 1),
    ]
    (total,) = reply.totals
    assert Decimal(total.total.amount) == sum(Decimal(line.total.amount) for line in reply.lines)
    with s.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(LedgerEntry.cost_nano)).scalars().all()
    assert Decimal(total.total.amount) == from_nano(sum(rows))
    assert total.input_tokens == 2130 and total.requests == 3
    # One project: this month's forecast comes along; spent so far is the month's total.
    assert reply.forecast.spent == total.total and reply.forecast.month == reply.to_day[:7]
    everyone = s.metering.GetReport(metering_pb2.ReportRequest())
    assert [line.project for line in everyone.lines] == ["acme"]
    assert not everyone.HasField("forecast")


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"group_by": ["colour"]}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"from_day": "2026-02-30"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"from_day": "2026-03-02", "to_day": "2026-03-01"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"project_id": "prj_nobody"}, grpc.StatusCode.NOT_FOUND),
    ],
)
def test_bad_report_requests_are_refused(services: Services, request_fields, code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        services.metering.GetReport(metering_pb2.ReportRequest(**request_fields))
    assert info.value.code() == code


def test_this_months_usage_report_carries_the_forecast(services: Services) -> None:
    record(services, "f1", 1000, 100)
    report = services.metering.GetUsageReport(
        metering_pb2.UsageReportRequest(project_id=services.project)
    )
    forecast = report.forecast
    assert forecast.month == report.period and forecast.spent == report.total
    # The project was made today: no complete day to average, so the forecast is
    # what it has spent.
    assert (forecast.window_days, forecast.daily_average.amount) == (0, "0.00")
    assert forecast.forecast == report.total
    old = services.metering.GetUsageReport(
        metering_pb2.UsageReportRequest(project_id=services.project, period="2025-01")
    )
    assert not old.HasField("forecast")
