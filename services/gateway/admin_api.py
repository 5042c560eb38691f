"""The HTTP admin API under /admin/, for operators: the CLI's actions over HTTP.

It is on only when TOLLGATE_ADMIN_TOKEN is set, and every call must carry that
token as `Authorization: Bearer ...`. Project keys never open it."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.budget.prices import PriceInput, current_prices, describe, set_price
from services.gateway.errors import ApiError, bad_request
from services.gateway.ratelimit import store as limit_store
from services.gateway.validation import parse_json
from services.metering.export import operator_report
from services.metering.reports import bill, forecast_for, usage_report
from tollgate import admin
from tollgate.money import MoneyError

Handler = Callable[[Request], Awaitable[Response]]


def _json(value: Any, status: int = 200) -> JSONResponse:
    def plain(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        if isinstance(item, dict):
            return {k: plain(v) for k, v in item.items()}
        if isinstance(item, list):
            return [plain(v) for v in item]
        return item

    return JSONResponse(plain(value), status_code=status)


def _field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"'{name}' is required.", param=name)
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise bad_request(f"'{name}' must be a string (decimals as strings).", param=name)
    return str(value)


def admin_routes(engine: Engine, token: str) -> list[Route]:
    def guarded(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                if not token:
                    raise ApiError(404, "The admin API is off: set TOLLGATE_ADMIN_TOKEN.")
                scheme, _, given = request.headers.get("authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(
                    given.strip().encode(), token.encode()
                ):
                    raise ApiError(401, "A valid admin token is required.", code="invalid_api_key")
                return await handler(request)
            except admin.NotFound as exc:
                return ApiError(404, str(exc), code="not_found").response()
            except (admin.AdminError, MoneyError, ValueError) as exc:
                return bad_request(str(exc)).response()
            except ApiError as exc:
                return exc.response()

        return wrapped

    async def body_of(request: Request) -> dict[str, Any]:
        return parse_json(await request.body())

    async def list_projects(request: Request) -> Response:
        projects = await asyncio.to_thread(admin.list_projects, engine)
        return _json({"data": [asdict(p) for p in projects]})

    async def create_project(request: Request) -> Response:
        body = await body_of(request)
        project = await asyncio.to_thread(
            admin.create_project,
            engine,
            _field(body, "name", required=True) or "",
            currency=_field(body, "currency") or "CNY",
            monthly_budget=_field(body, "monthly_budget"),
        )
        return _json(asdict(project), 201)

    async def set_budget(request: Request) -> Response:
        body = await body_of(request)
        project = await asyncio.to_thread(
            admin.set_monthly_budget,
            engine,
            request.path_params["name"],
            _field(body, "monthly_budget"),
        )
        return _json(asdict(project))

    async def list_keys(request: Request) -> Response:
        keys = await asyncio.to_thread(admin.list_keys, engine, request.path_params["name"])
        return _json({"data": [asdict(k) for k in keys]})

    async def create_key(request: Request) -> Response:
        body = await body_of(request) if await request.body() else {}
        created = await asyncio.to_thread(
            admin.create_key, engine, request.path_params["name"], _field(body, "name") or ""
        )
        return _json({**asdict(created.info), "secret": created.secret}, 201)

    async def revoke_key(request: Request) -> Response:
        key = await asyncio.to_thread(admin.revoke_key, engine, request.path_params["key_id"])
        return _json(asdict(key))

    async def list_prices(request: Request) -> Response:
        def read() -> list[dict[str, str | int]]:
            with engine.connect() as conn:
                return [describe(p) for p in current_prices(conn)]

        return _json({"data": await asyncio.to_thread(read)})

    async def put_price(request: Request) -> Response:
        body = await body_of(request)
        max_output = body.get("max_output_tokens")
        if max_output is not None and (
            isinstance(max_output, bool) or not isinstance(max_output, int)
        ):
            raise bad_request("'max_output_tokens' must be an integer.", param="max_output_tokens")
        wanted = PriceInput(
            model=request.path_params["model"],
            input=_field(body, "input", required=True) or "",
            output=_field(body, "output", required=True) or "",
            cached_input=_field(body, "cached_input"),
            currency=_field(body, "currency") or "USD",
            max_output_tokens=max_output,
        )

        def write() -> dict[str, str | int]:
            with engine.begin() as conn:
                return describe(set_price(conn, wanted))

        return _json(await asyncio.to_thread(write))

    async def get_bill(request: Request) -> Response:
        def read() -> dict[str, Any]:
            project = admin.get_project(engine, request.path_params["name"])
            report = usage_report(engine, project.id, request.query_params.get("month"))
            return bill(report, forecast_for(engine, report))

        return _json(await asyncio.to_thread(read))

    async def list_rate_limits(request: Request) -> Response:
        """GET /admin/limits?project=: the rate limits of every project and key."""
        project = request.query_params.get("project") or None
        shown = await asyncio.to_thread(limit_store.list_limits, engine, project)
        return _json({"data": [{**asdict(x), "owner": x.owner} for x in shown]})

    async def put_rate_limits(request: Request) -> Response:
        """PUT /admin/projects/{name}/limits {"key_id"?, "rpm"?, "tpm"?, "max_concurrent"?}:
        the limits named change (null: no limit), the others stay."""
        body = await body_of(request)
        given = {name: body[name] for name in limit_store.LIMITS if name in body}
        shown = await asyncio.to_thread(
            limit_store.set_limits,
            engine,
            request.path_params["name"],
            key_id=_field(body, "key_id"),
            **given,
        )
        return _json(None if shown is None else {**asdict(shown), "owner": shown.owner})

    async def clear_rate_limits(request: Request) -> Response:
        """DELETE /admin/projects/{name}/limits?key_id=: every limit of the project or key."""
        cleared = await asyncio.to_thread(
            limit_store.clear_limits,
            engine,
            request.path_params["name"],
            key_id=request.query_params.get("key_id") or None,
        )
        return _json({"cleared": cleared})

    async def get_report(request: Request) -> Response:
        """GET /admin/reports?project=&from=&to=&by=&format=json|csv"""
        params = request.query_params
        fmt = params.get("format", "json")
        if fmt not in ("json", "csv"):
            raise bad_request("'format' must be json or csv.", param="format")
        shown = await asyncio.to_thread(
            operator_report,
            engine,
            project=params.get("project") or None,
            first=params.get("from") or None,
            last=params.get("to") or None,
            by=params.get("by", ""),
            as_csv=fmt == "csv",
        )
        if isinstance(shown, str):
            return Response(shown, media_type="text/csv; charset=utf-8")
        return _json(shown)

    return [
        Route("/admin/reports", guarded(get_report), methods=["GET"]),
        Route("/admin/projects", guarded(list_projects), methods=["GET"]),
        Route("/admin/projects", guarded(create_project), methods=["POST"]),
        Route("/admin/projects/{name}/budget", guarded(set_budget), methods=["PUT"]),
        Route("/admin/projects/{name}/keys", guarded(list_keys), methods=["GET"]),
        Route("/admin/projects/{name}/keys", guarded(create_key), methods=["POST"]),
        Route("/admin/projects/{name}/bill", guarded(get_bill), methods=["GET"]),
        Route("/admin/keys/{key_id}/revoke", guarded(revoke_key), methods=["POST"]),
        Route("/admin/prices", guarded(list_prices), methods=["GET"]),
        Route("/admin/limits", guarded(list_rate_limits), methods=["GET"]),
        Route("/admin/projects/{name}/limits", guarded(put_rate_limits), methods=["PUT"]),
        Route("/admin/projects/{name}/limits", guarded(clear_rate_limits), methods=["DELETE"]),
        Route("/admin/prices/{model:path}", guarded(put_price), methods=["PUT"]),
    ]
