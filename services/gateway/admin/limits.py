"""Rate limits: GET /admin/limits, PUT and DELETE /admin/projects/{name}/limits."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, body_of, text_field
from services.gateway.ratelimit import store as limit_store


def routes(engine: Engine) -> list[Route]:
    async def list_rate_limits(request: Request) -> Response:
        """GET /admin/limits?project=: the rate limits of every project and key."""
        project = request.query_params.get("project") or None
        shown = await asyncio.to_thread(limit_store.list_limits, engine, project)
        return as_json({"data": [{**asdict(x), "owner": x.owner} for x in shown]})

    async def put_rate_limits(request: Request) -> Response:
        """PUT /admin/projects/{name}/limits {"key_id"?, "rpm"?, "tpm"?, "max_concurrent"?}:
        the limits named change (null: no limit), the others stay."""
        body = await body_of(request)
        given = {name: body[name] for name in limit_store.LIMITS if name in body}
        shown = await asyncio.to_thread(
            limit_store.set_limits,
            engine,
            request.path_params["name"],
            key_id=text_field(body, "key_id"),
            **given,
        )
        return as_json(None if shown is None else {**asdict(shown), "owner": shown.owner})

    async def clear_rate_limits(request: Request) -> Response:
        """DELETE /admin/projects/{name}/limits?key_id=: every limit of the project or key."""
        cleared = await asyncio.to_thread(
            limit_store.clear_limits,
            engine,
            request.path_params["name"],
            key_id=request.query_params.get("key_id") or None,
        )
        return as_json({"cleared": cleared})

    return [
        Route("/admin/limits", list_rate_limits, methods=["GET"]),
        Route("/admin/projects/{name}/limits", put_rate_limits, methods=["PUT"]),
        Route("/admin/projects/{name}/limits", clear_rate_limits, methods=["DELETE"]),
    ]
