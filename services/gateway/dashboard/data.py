"""The dashboard's JSON, read from the operator contract (Budget's and Metering's admin
RPCs), never from the tables:

    GET /dashboard/api/projects                      the projects the session may see
    GET /dashboard/api/projects/{name}/summary       month's bill, forecast, budgets, savings
    GET /dashboard/api/projects/{name}/series        spend by hour (48) and by day (30)
    GET /dashboard/api/projects/{name}/breakdown     month by model, key and end user
    GET /dashboard/api/projects/{name}/calls?limit=  the latest calls, newest first
    GET /dashboard/api/projects/{name}/alerts        alerts fired, newest first
    GET /dashboard/api/audit                         the operators' latest changes

Amounts are the same exact decimal strings the admin API and the CLI show (the same
renderers in tollgate/reports), so the page's numbers are the bill's."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.gateway.admin.common import operator_call
from services.gateway.admin.reports import ask
from services.gateway.dashboard.access import Access
from services.gateway.dashboard.session import Role, Session
from services.gateway.validation import whole_number
from tollgate.protodict import as_dict
from tollgate.reports.calls import call_json
from tollgate.reports.levers import savings_json
from tollgate.reports.usage import bill_json, report_json
from tollgate.v1 import budget_pb2, metering_pb2, metering_pb2_grpc

RPC_SECONDS = 15.0
HOURS = 48
DAYS = 30
DEFAULT_CALLS = 50
MAX_CALLS = 200
ALERTS = 20
AUDIT_EVENTS = 50


def percent(spent: str, amount: str) -> str | None:
    """spent / amount as a percentage with one decimal ("81.3"); None without a limit."""
    try:
        limit = Decimal(amount)
        if limit <= 0:
            return None
        return str((Decimal(spent) * 100 / limit).quantize(Decimal("0.1")))
    except InvalidOperation:
        return None


def _today() -> date:
    return datetime.now(UTC).date()


def _days(reply: metering_pb2.ReportResponse, first: date, last: date) -> list[dict[str, Any]]:
    """Every day of [first, last] in the project's currency, a day with no calls at 0."""
    found = report_json(reply)["lines"]
    by_day = {line["day"]: line for line in found}
    currency = found[0]["currency"] if found else ""
    days = []
    for step in range((last - first).days + 1):
        day = (first + timedelta(days=step)).isoformat()
        days.append(
            by_day.get(day)
            or {"day": day, "currency": currency, "total": "0.00", "requests": 0,
                "input_tokens": 0, "output_tokens": 0}
        )  # fmt: skip
    return days


def routes(access: Access, metering: metering_pb2_grpc.MeteringStub) -> list[Route]:
    budget = access.budget

    async def report(project: str, by: list[str], first: date, last: date) -> Any:
        wanted = metering_pb2.ReportRequest(
            project=project, from_day=first.isoformat(), to_day=last.isoformat(), group_by=by
        )
        return await ask(metering.GetReport(wanted, timeout=RPC_SECONDS))

    async def projects(request: Request, session: Session) -> Response:
        if session.role is Role.OPERATOR:
            listed = await operator_call(budget.ListProjects, budget_pb2.ListProjectsRequest())
            shown = [as_dict(p) for p in listed.projects]
        else:
            own = budget_pb2.ProjectRef(project=session.project_id)
            shown = [as_dict(await operator_call(budget.GetProject, own))]
        return JSONResponse({"role": session.role.value, "data": shown})

    async def summary(request: Request, session: Session) -> Response:
        project = access.project_of(request, session)
        bill = await ask(
            metering.GetBill(metering_pb2.BillRequest(project=project), timeout=RPC_SECONDS)
        )
        wanted_savings = metering_pb2.SavingsRequest(project=project)
        savings, budgets = await asyncio.gather(
            ask(metering.GetSavings(wanted_savings, timeout=RPC_SECONDS)),
            operator_call(budget.ListBudgets, budget_pb2.ListBudgetsRequest(project=project)),
        )
        shown = [as_dict(b) | {"percent": percent(b.spent, b.amount)} for b in budgets.budgets]
        return JSONResponse(
            {"bill": bill_json(bill), "budgets": shown, "savings": savings_json(savings)}
        )

    async def series(request: Request, session: Session) -> Response:
        project = access.project_of(request, session)
        last = _today()
        first = last - timedelta(days=DAYS - 1)
        hourly, daily = await asyncio.gather(
            ask(
                metering.GetHourlySpend(
                    metering_pb2.HourlySpendRequest(project=project, hours=HOURS),
                    timeout=RPC_SECONDS,
                )
            ),
            report(project, ["day"], first, last),
        )
        hours = [
            {"hour": h.hour, "currency": h.total.currency, "total": h.total.amount}
            | {"requests": h.requests, "cache_hits": h.cache_hits}
            for h in hourly.hours
        ]
        return JSONResponse({"hourly": hours, "daily": _days(daily, first, last)})

    async def breakdown(request: Request, session: Session) -> Response:
        project = access.project_of(request, session)
        last = _today()
        first = last.replace(day=1)
        found = await asyncio.gather(
            *(report(project, [by], first, last) for by in ("model", "key", "user"))
        )
        model, key, user = (report_json(reply) for reply in found)
        return JSONResponse({"from": first.isoformat(), "to": last.isoformat()} | {
            "by_model": model["lines"], "by_key": key["lines"], "by_user": user["lines"],
            "totals": model["totals"],
        })  # fmt: skip

    async def calls(request: Request, session: Session) -> Response:
        """The project's latest calls, newest first."""
        project = access.project_of(request, session)
        raw = request.query_params.get("limit", str(DEFAULT_CALLS))
        limit = whole_number(raw, "limit", 1, MAX_CALLS)
        wanted = metering_pb2.RecentCallsRequest(project=project, limit=limit)
        page = await ask(metering.ListRecentCalls(wanted, timeout=RPC_SECONDS))
        return JSONResponse({"data": [call_json(c) for c in page.calls]})

    async def alerts(request: Request, session: Session) -> Response:
        project = access.project_of(request, session)
        wanted = budget_pb2.ListAlertsRequest(project=project, limit=ALERTS)
        shown = await operator_call(budget.ListAlerts, wanted)
        return JSONResponse({"data": [as_dict(a) for a in shown.alerts]})

    async def audit(request: Request, session: Session) -> Response:
        """The operators' latest changes, every project's, newest first (Budget's
        audit log: who changed what, never a secret)."""
        wanted = budget_pb2.ListAuditEventsRequest(limit=AUDIT_EVENTS)
        shown = await operator_call(budget.ListAuditEvents, wanted)
        keep = ("at", "actor", "action", "target_kind", "target", "project")
        return JSONResponse({"data": [{k: as_dict(e)[k] for k in keep} for e in shown.events]})

    signed_in = access.signed_in
    return [
        Route("/dashboard/api/projects", signed_in(projects), methods=["GET"]),
        Route("/dashboard/api/projects/{name}/summary", signed_in(summary), methods=["GET"]),
        Route("/dashboard/api/projects/{name}/series", signed_in(series), methods=["GET"]),
        Route("/dashboard/api/projects/{name}/breakdown", signed_in(breakdown), methods=["GET"]),
        Route("/dashboard/api/projects/{name}/calls", signed_in(calls), methods=["GET"]),
        Route("/dashboard/api/projects/{name}/alerts", signed_in(alerts), methods=["GET"]),
        Route("/dashboard/api/audit", signed_in(audit, operator=True), methods=["GET"]),
    ]
