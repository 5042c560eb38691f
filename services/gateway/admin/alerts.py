"""Alert events and their webhook deliveries: GET /admin/alerts (`tollgate alert list`)."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json
from services.gateway.errors import bad_request
from tollgate.alertlog import list_alerts

MAX_LIMIT = 1000


def routes(engine: Engine) -> list[Route]:
    async def get_alerts(request: Request) -> Response:
        """GET /admin/alerts?project=&limit=: newest first, each with its state
        (pending, delivered, failed, no webhooks) and every delivery attempt."""
        params = request.query_params
        limit = params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise bad_request(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", "limit")
        shown = await asyncio.to_thread(
            list_alerts, engine, params.get("project") or None, int(limit)
        )
        return as_json({"data": shown})

    return [Route("/admin/alerts", get_alerts, methods=["GET"])]
