"""The HTTP admin API under /admin/, for operators: the CLI's actions over HTTP.

It is on only when TOLLGATE_ADMIN_TOKEN is set, and every call must carry that
token as `Authorization: Bearer ...`. Project keys never open it. One module per
topic declares its routes; `admin_routes` puts every one of them behind the token.
Projects, keys, budgets, prices, limits, alerts and policies are Budget's: those
routes call its admin RPCs (blocking stubs, run off the event loop)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Engine
from starlette.routing import Route

from services.gateway.admin import (
    alerts,
    audit,
    budgets,
    limits,
    policies,
    prices,
    projects,
    reports,
)
from services.gateway.admin.common import Unreachable, guarded
from tollgate.v1 import budget_pb2_grpc, metering_pb2_grpc

TOPICS = (projects, budgets, prices, limits, alerts, policies, audit)


def admin_routes(
    engine: Engine,
    token: str,
    *,
    metering: metering_pb2_grpc.MeteringStub | None = None,
    budget: budget_pb2_grpc.BudgetStub | None = None,
) -> list[Route]:
    """Every admin route behind the token; bills, reports and exports ask `metering`
    (an aio stub; without one they answer 503); projects, keys, budgets, prices,
    limits, alerts and policies ask `budget` (a blocking stub, called off the event
    loop; without one they answer 503)."""
    # Budget audits each change under the admin token's fingerprint.
    budget_stub = audit.as_actor(
        budget or cast(budget_pb2_grpc.BudgetStub, Unreachable("budget")), token
    )
    found = [route for topic in TOPICS for route in topic.routes(budget_stub)]
    return [
        Route(route.path, guarded(route.endpoint, token), methods=route.methods)
        for route in [*found, *reports.routes(metering)]
    ]


__all__ = ["admin_routes"]
