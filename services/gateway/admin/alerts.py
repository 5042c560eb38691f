"""Alert events and their webhook deliveries: GET /admin/alerts (`tollgate alert list`),
over Budget's admin RPCs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, operator_call
from services.gateway.validation import whole_number
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2, budget_pb2_grpc

MAX_LIMIT = 1000


def routes(budget: budget_pb2_grpc.BudgetStub) -> list[Route]:
    async def get_alerts(request: Request) -> Response:
        """GET /admin/alerts?project=&limit=: newest first, each with its state
        (pending, delivered, failed, no webhooks) and every delivery attempt."""
        params = request.query_params
        limit = whole_number(params.get("limit", "50"), "limit", 1, MAX_LIMIT)
        wanted = budget_pb2.ListAlertsRequest(project=params.get("project") or None, limit=limit)
        shown = await operator_call(budget.ListAlerts, wanted)
        return as_json({"data": [as_dict(a) for a in shown.alerts]})

    return [Route("/admin/alerts", get_alerts, methods=["GET"])]
