"""Bills and reports: GET /admin/projects/{name}/bill and GET /admin/reports."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json
from services.gateway.errors import bad_request
from services.metering.export import operator_report
from services.metering.reports import bill, forecast_for, usage_report
from tollgate import admin


def routes(engine: Engine) -> list[Route]:
    async def get_bill(request: Request) -> Response:
        def read() -> dict[str, Any]:
            project = admin.get_project(engine, request.path_params["name"])
            report = usage_report(engine, project.id, request.query_params.get("month"))
            return bill(report, forecast_for(engine, report))

        return as_json(await asyncio.to_thread(read))

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
        return as_json(shown)

    return [
        Route("/admin/reports", get_report, methods=["GET"]),
        Route("/admin/projects/{name}/bill", get_bill, methods=["GET"]),
    ]
