"""The cost console at /dashboard: a page served from the package (no CDN) and the
JSON it polls, for operators (every project, with the admin token) and for a project's
own viewers (its project only, with one of its keys). Sessions are signed HttpOnly,
SameSite=Strict cookies scoped to /dashboard (session.py); what a session may see and
the headers of every answer (CSP, no framing) are access.py's; the data comes from
Budget's and Metering's admin RPCs (data.py). See docs/dashboard.md."""

from __future__ import annotations

from typing import cast

from starlette.routing import Route

from services.gateway.admin.common import Unreachable
from services.gateway.auth import KeyCache
from services.gateway.dashboard import data, pages
from services.gateway.dashboard.access import Access
from services.gateway.dashboard.session import Sessions
from tollgate.v1 import budget_pb2_grpc, metering_pb2_grpc


def dashboard_routes(
    keys: KeyCache,
    admin_token: str,
    *,
    metering: metering_pb2_grpc.MeteringStub,
    budget: budget_pb2_grpc.BudgetStub | None = None,
) -> list[Route]:
    """Every dashboard route. `metering` is an aio stub; `budget` a blocking one (its
    admin RPCs run off the event loop; without one they answer 503)."""
    stub = budget or cast(budget_pb2_grpc.BudgetStub, Unreachable("budget"))
    access = Access(Sessions(admin_token), stub)
    return [*pages.routes(access, keys, admin_token), *data.routes(access, metering)]


__all__ = ["dashboard_routes"]
