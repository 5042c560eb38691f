"""GET /v1/usage: the calling key's own project, read from Metering and Budget.

    GET /v1/usage                     this month: spend, budgets, by model, forecast
    GET /v1/usage?period=YYYY-MM      another month
    GET /v1/usage?from=&to=&by=       any UTC days, by project, key, model, user, day

A bad period or range is a 400 (Metering says which); Metering or Budget away is a 503."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.gateway.caller import Caller
from services.gateway.deps import Deps
from services.gateway.errors import ApiError, unavailable
from services.gateway.usage_json import range_report_json, usage_json
from services.gateway.validation import text
from tollgate.v1 import budget_pb2, metering_pb2

REPORT_TIMEOUT_SECONDS = 10.0
RANGE_PARAMS = {"from", "to", "by"}


def query(request: Request) -> dict[str, str]:
    """The query parameters, each checked as text bound for a protobuf."""
    return {name: text(value, name) for name, value in request.query_params.items()}


async def _range(deps: Deps, caller: Caller, params: dict[str, str]) -> Response:
    if "period" in params:
        raise ApiError(400, "Use either 'period' or 'from'/'to'/'by'.", param="period")
    try:
        reply = await deps.metering.GetReport(
            metering_pb2.ReportRequest(
                project_id=caller.project_id,
                from_day=params.get("from", ""),
                to_day=params.get("to", ""),
                group_by=params.get("by", "").split(","),
            ),
            timeout=REPORT_TIMEOUT_SECONDS,
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise ApiError(400, exc.details() or "bad report request") from None
        raise unavailable("metering") from None
    return JSONResponse({**range_report_json(reply), "project": caller.project})


async def _month(deps: Deps, caller: Caller, period: str) -> Response:
    try:
        report, status = await asyncio.gather(
            deps.metering.GetUsageReport(
                metering_pb2.UsageReportRequest(project_id=caller.project_id, period=period),
                timeout=REPORT_TIMEOUT_SECONDS,
            ),
            deps.budget.GetBudgetStatus(
                budget_pb2.GetBudgetStatusRequest(project_id=caller.project_id),
                timeout=REPORT_TIMEOUT_SECONDS,
            ),
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise ApiError(400, exc.details() or "bad period", param="period") from None
        raise unavailable("metering") from None
    return JSONResponse(
        usage_json(report, status, project=caller.project, currency=caller.currency)
    )


def usage_handler(deps: Deps) -> Callable[[Request], Awaitable[Response]]:
    async def usage(request: Request) -> Response:
        caller, _ = await deps.gate.admit(request, calling=False)
        if RANGE_PARAMS & set(request.query_params):
            return await _range(deps, caller, query(request))
        return await _month(deps, caller, query(request).get("period", ""))

    return usage
