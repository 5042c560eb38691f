"""The operators' RPCs as plain functions, request in, reply out: bills, range reports,
cost allocation, savings, what-if and the per-call export. Each reads the request's
fields once, refuses bad ones naming the field (see refusals.py) and leaves the
arithmetic to the modules that own it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import grpc
from sqlalchemy import Engine

from services.metering.allocation import MINOR_UNIT_DIGITS, allocate
from services.metering.breakdown import (
    ReportQuery,
    default_dimensions,
    parse_dimensions,
    range_report,
)
from services.metering.calls import call_pages, page_size
from services.metering.days import first_of_month, parse_day, today_utc
from services.metering.forecast import project_forecast
from services.metering.levers_wire import (
    book_of,
    savings_month,
    savings_to_proto,
    whatif_month,
    whatif_query,
    whatif_to_proto,
)
from services.metering.projects import find_project
from services.metering.refusals import Refusal, invalid
from services.metering.report_messages import bill_to_proto, money, range_to_proto
from services.metering.reports import forecast_for, month_bounds, usage_report
from services.metering.savings import savings_report
from services.metering.whatif import what_if
from tollgate.money import MoneyError, check_currency
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2, metering_pb2


def days(from_day: str, to_day: str) -> tuple[date, date]:
    """Inclusive UTC days; defaults: `to_day` today, `from_day` the first of its month."""
    try:
        last = parse_day(to_day, "to") if to_day else today_utc()
    except ValueError as exc:
        raise invalid("to_day", exc) from None
    try:
        first = parse_day(from_day, "from") if from_day else first_of_month(last)
    except ValueError as exc:
        raise invalid("from_day", exc) from None
    if first > last:
        raise invalid("from_day", ValueError(f"from ({first}) is after to ({last})"))
    return first, last


def _month(month: str) -> None:
    try:
        month_bounds(month)
    except ValueError as exc:
        raise invalid("month", exc) from None


def bill(engine: Engine, request: metering_pb2.BillRequest) -> metering_pb2.UsageReport:
    if request.month:
        _month(request.month)
    project = find_project(engine, request.project)
    report = usage_report(engine, project.id, request.month or None)
    return bill_to_proto(report, forecast_for(engine, report))


def report(engine: Engine, request: metering_pb2.ReportRequest) -> metering_pb2.ReportResponse:
    first, last = days(request.from_day, request.to_day)
    try:
        by = parse_dimensions(request.group_by)
    except ValueError as exc:
        raise invalid("group_by", exc) from None
    project_id = request.project_id or None
    if not project_id and request.project:
        project_id = find_project(engine, request.project).id
    forecast = project_forecast(engine, project_id) if project_id else None
    query = ReportQuery(first, last, by or default_dimensions(project_id), project_id)
    return range_to_proto(range_report(engine, query), forecast)


def allocation(
    engine: Engine, request: metering_pb2.AllocateRequest
) -> metering_pb2.AllocateResponse:
    try:
        currency = check_currency(request.currency)
    except (MoneyError, ValueError) as exc:
        raise invalid("currency", exc) from None
    first, last = days(request.from_day, request.to_day)
    names = [name.strip() for name in request.projects if name.strip()] or None
    try:
        found = allocate(engine, request.total, currency, first, last, names)
    except (MoneyError, ValueError) as exc:
        message = str(exc)
        if message.startswith("total"):
            raise invalid("total", exc) from None
        if message.startswith("projects"):
            raise invalid("projects", exc) from None
        raise Refusal(grpc.StatusCode.FAILED_PRECONDITION, message) from None
    digits = MINOR_UNIT_DIGITS[currency]

    def fixed(amount: object) -> common_pb2.Money:
        return common_pb2.Money(amount=f"{amount:.{digits}f}", currency=currency)

    return metering_pb2.AllocateResponse(
        total=fixed(found.total),
        from_day=first.isoformat(),
        to_day=last.isoformat(),
        shares=[
            metering_pb2.AllocationShare(
                project=share.project,
                metered=money(share.metered_nano, share.metered_currency),
                share=fixed(share.share),
            )
            for share in found.shares
        ],
    )


def savings(engine: Engine, request: metering_pb2.SavingsRequest) -> metering_pb2.SavingsResponse:
    month = savings_month(request.month)
    _month(month)
    first, end = month_bounds(month)
    named = request.project_id or request.project
    project_id = find_project(engine, named).id if named else None
    return savings_to_proto(savings_report(engine, first, end, project_id), month)


def whatif(
    engine: Engine, budget: budget_pb2_grpc.BudgetStub, request: metering_pb2.WhatIfRequest
) -> metering_pb2.WhatIfResponse:
    month = whatif_month(request)
    _month(month)
    project = find_project(engine, request.project_id or request.project)
    query = replace(whatif_query(request, month), project_id=project.id)
    try:
        prices = budget.GetPrices(budget_pb2.GetPricesRequest(), timeout=10)
    except grpc.RpcError:
        raise Refusal(grpc.StatusCode.UNAVAILABLE, "budget service unavailable") from None
    try:
        result = what_if(engine, query, book_of(prices))
    except ValueError as exc:  # a model with no price
        raise Refusal(grpc.StatusCode.FAILED_PRECONDITION, str(exc), "prices") from None
    return whatif_to_proto(result, month)


def export_calls(
    engine: Engine, request: metering_pb2.ExportCallsRequest
) -> Iterator[metering_pb2.CallsPage]:
    """Checks the request before the first page, so a refusal comes before any record."""
    if not request.project:
        raise invalid("project", ValueError("project: name the project to export"))
    first, last = days(request.from_day, request.to_day)
    project = find_project(engine, request.project)
    return call_pages(engine, project, first, last, page_size(request.page_size))
