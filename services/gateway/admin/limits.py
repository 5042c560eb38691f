"""Rate limits: GET /admin/limits, PUT and DELETE /admin/projects/{name}/limits, over
Budget's admin RPCs (gateways read the limits; Budget writes them)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import (
    as_json,
    body_of,
    json_value,
    operator_call,
    text_field,
)
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2, budget_pb2_grpc

LIMITS = ("rpm", "tpm", "max_concurrent")


def routes(budget: budget_pb2_grpc.BudgetStub) -> list[Route]:
    async def list_rate_limits(request: Request) -> Response:
        """GET /admin/limits?project=: the rate limits of every project and key."""
        wanted = budget_pb2.ListLimitsRequest(project=request.query_params.get("project") or None)
        shown = await operator_call(budget.ListLimits, wanted)
        return as_json({"data": [as_dict(x) for x in shown.limits]})

    async def put_rate_limits(request: Request) -> Response:
        """PUT /admin/projects/{name}/limits {"key_id"?, "rpm"?, "tpm"?, "max_concurrent"?}:
        the limits named change (null: no limit), the others stay."""
        body = await body_of(request, ("key_id", *LIMITS))
        wanted = budget_pb2.SetLimitsRequest(
            project=request.path_params["name"],
            key_id=text_field(body, "key_id"),
            limits={name: json_value(body[name]) for name in LIMITS if name in body},
        )
        shown = await operator_call(budget.SetLimits, wanted)
        return as_json(as_dict(shown.limits) if shown.HasField("limits") else None)

    async def clear_rate_limits(request: Request) -> Response:
        """DELETE /admin/projects/{name}/limits?key_id=: every limit of the project or key."""
        wanted = budget_pb2.ClearLimitsRequest(
            project=request.path_params["name"],
            key_id=request.query_params.get("key_id") or None,
        )
        return as_json({"cleared": (await operator_call(budget.ClearLimits, wanted)).cleared})

    return [
        Route("/admin/limits", list_rate_limits, methods=["GET"]),
        Route("/admin/projects/{name}/limits", put_rate_limits, methods=["PUT"]),
        Route("/admin/projects/{name}/limits", clear_rate_limits, methods=["DELETE"]),
    ]
