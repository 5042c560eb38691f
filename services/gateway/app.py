"""The gateway's HTTP app: OpenAI-compatible routes, OpenAI-format errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import grpc
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.gateway.admin import admin_routes
from services.gateway.auth import KeyCache, secret_from
from services.gateway.catalog import ModelCatalog
from services.gateway.chat import ChatDeps, chat_handler
from services.gateway.embeddings import embeddings_handler
from services.gateway.errors import ApiError, unavailable
from services.gateway.messages import count_tokens_handler, messages_handler
from services.gateway.ratelimit import create_limiter
from services.metering.wire import range_report_json, usage_forecast
from tollgate.v1 import (
    budget_pb2,
    budget_pb2_grpc,
    metering_pb2,
    metering_pb2_grpc,
    router_pb2_grpc,
)

log = logging.getLogger(__name__)
CREATED = int(time.time())

Handler = Callable[[Request], Awaitable[Response]]


def _api(handler: Handler) -> Handler:
    """Answer ApiErrors in OpenAI's format; never let a traceback reach the client."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    return wrapped


def create_app(
    engine: Engine,
    *,
    admin_token: str = "",
    budget: budget_pb2_grpc.BudgetStub,
    router: router_pb2_grpc.RouterStub,
    metering: metering_pb2_grpc.MeteringStub,
    redis_url: str = "",
) -> Starlette:
    keys = KeyCache(engine)
    models_catalog = ModelCatalog(router)
    deps = ChatDeps(
        keys=keys,
        models=models_catalog,
        budget=budget,
        router=router,
        limits=create_limiter(engine, redis_url),
    )

    chat = chat_handler(deps)

    async def models(request: Request) -> Response:
        await keys.resolve(secret_from(request), fresh=True)
        data = [
            {"id": name, "object": "model", "created": CREATED, "owned_by": route.provider}
            for name, route in sorted((await models_catalog.all()).items())
        ]
        return JSONResponse({"object": "list", "data": data})

    async def usage_range(project_id: str, project: str, request: Request) -> Response:
        """GET /v1/usage?from=&to=&by=: the caller's own project over any UTC days."""
        params = request.query_params
        if "period" in params:
            raise ApiError(400, "Use either 'period' or 'from'/'to'/'by'.", param="period")
        try:
            reply = await metering.GetReport(
                metering_pb2.ReportRequest(
                    project_id=project_id,
                    from_day=params.get("from", ""),
                    to_day=params.get("to", ""),
                    group_by=params.get("by", "").split(","),
                ),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise ApiError(400, exc.details() or "bad report request") from None
            raise unavailable("metering") from None
        return JSONResponse({**range_report_json(reply), "project": project})

    async def usage(request: Request) -> Response:
        caller = await keys.resolve(secret_from(request), fresh=True)
        if {"from", "to", "by"} & set(request.query_params):
            return await usage_range(caller.project_id, caller.project, request)
        period = request.query_params.get("period", "")
        try:
            report, status = await asyncio.gather(
                metering.GetUsageReport(
                    metering_pb2.UsageReportRequest(project_id=caller.project_id, period=period),
                    timeout=10,
                ),
                budget.GetBudgetStatus(
                    budget_pb2.GetBudgetStatusRequest(project_id=caller.project_id), timeout=10
                ),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise ApiError(400, exc.details() or "bad period", param="period") from None
            raise unavailable("metering") from None
        return JSONResponse(
            {
                "object": "usage",
                "project": caller.project,
                "period": report.period,
                "currency": caller.currency,
                "total": report.total.amount,
                "requests": report.requests,
                "input_tokens": report.input_tokens,
                "output_tokens": report.output_tokens,
                "cached_tokens": report.cached_tokens,
                "budget": {
                    "period": status.period,
                    "limit": status.limit.amount or None,
                    "spent": status.spent.amount,
                    "reserved": status.reserved.amount,
                    "remaining": status.remaining.amount or None,
                    "timezone": status.timezone,
                    "budgets": [
                        {
                            "owner": line.owner,
                            "key_id": line.key_id or None,
                            "key_name": line.key_name or None,
                            "period": line.period,
                            "period_key": line.period_key,
                            "hard": line.hard,
                            "limit": line.limit.amount,
                            "spent": line.spent.amount,
                            "reserved": line.reserved.amount,
                            "remaining": line.remaining.amount,
                            "resets_at": line.resets_at or None,
                            "alert_at": list(line.alert_at),
                        }
                        for line in status.budgets
                    ],
                },
                "by_model": [
                    {
                        "model": line.model,
                        "total": line.total.amount,
                        "requests": line.requests,
                        "input_tokens": line.input_tokens,
                        "output_tokens": line.output_tokens,
                        "cached_tokens": line.cached_tokens,
                    }
                    for line in report.by_model
                ],
                "forecast": usage_forecast(report),
            }
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"Unknown request URL: {request.method} {request.url.path}."
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed for {request.url.path}."
        else:
            message = str(exc.detail)
        return ApiError(exc.status_code, message, headers=exc.headers).response()

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        return ApiError(
            500, "tollgate hit an internal error; it has been logged.", type="server_error"
        ).response()

    return Starlette(
        routes=[
            Route("/v1/chat/completions", _api(chat), methods=["POST"]),
            Route("/v1/embeddings", _api(embeddings_handler(deps)), methods=["POST"]),
            # The Anthropic-format front door answers its errors in Anthropic's format.
            Route("/v1/messages", messages_handler(deps), methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens_handler(deps), methods=["POST"]),
            Route("/v1/models", _api(models), methods=["GET"]),
            Route("/v1/usage", _api(usage), methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            *admin_routes(engine, admin_token),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
