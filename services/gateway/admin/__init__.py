"""The HTTP admin API under /admin/, for operators: the CLI's actions over HTTP.

It is on only when TOLLGATE_ADMIN_TOKEN is set, and every call must carry that
token as `Authorization: Bearer ...`. Project keys never open it. One module per
topic declares its routes; `admin_routes` puts every one of them behind the token."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.routing import Route

from services.gateway.admin import alerts, budgets, limits, prices, projects, reports
from services.gateway.admin.common import guarded

TOPICS = (projects, budgets, prices, reports, limits, alerts)


def admin_routes(engine: Engine, token: str) -> list[Route]:
    return [
        Route(route.path, guarded(route.endpoint, token), methods=route.methods)
        for topic in TOPICS
        for route in topic.routes(engine)
    ]


__all__ = ["admin_routes"]
