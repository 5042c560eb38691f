"""Budgets on projects and keys: GET, PUT and DELETE /admin/budgets, the HTTP side of
`tollgate budget list|set|delete`, over Budget's admin RPCs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, body_of, operator_call, text_field
from services.gateway.errors import ApiError, bad_request
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2, budget_pb2_grpc

FIELDS = ("project", "key_id", "period", "amount", "hard", "alert_at")


def _thresholds(body: dict[str, Any]) -> str | None:
    """`alert_at` as Budget takes it, "50,80,100"; None: the default thresholds."""
    value = body.get("alert_at")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(p, int) and not isinstance(p, bool) for p in value
    ):
        return ",".join(str(p) for p in value)
    raise bad_request(
        "'alert_at' must be whole percents, as [50, 80, 100] or \"50,80,100\".", param="alert_at"
    )


def _hard(body: dict[str, Any]) -> bool:
    value = body.get("hard", True)
    if not isinstance(value, bool):
        raise bad_request(
            "'hard' must be true (refuse calls past it) or false (only alert).", param="hard"
        )
    return value


def routes(budget: budget_pb2_grpc.BudgetStub) -> list[Route]:
    async def list_budgets(request: Request) -> Response:
        """GET /admin/budgets?project=: each budget with its spend in the current period."""
        wanted = budget_pb2.ListBudgetsRequest(project=request.query_params.get("project") or None)
        shown = await operator_call(budget.ListBudgets, wanted)
        return as_json({"data": [as_dict(b) for b in shown.budgets]})

    async def put_budget(request: Request) -> Response:
        """PUT /admin/budgets {"project", "key_id"?, "period", "amount", "hard"?, "alert_at"?}:
        create or change the budget of that owner and period. Every field is checked
        before anything is written."""
        body = await body_of(request, FIELDS)
        wanted = budget_pb2.SetBudgetRequest(
            project=text_field(body, "project", required=True) or "",
            key_id=text_field(body, "key_id"),
            period=text_field(body, "period", required=True) or "",
            amount=text_field(body, "amount", required=True) or "",
            hard=_hard(body),
            alert_at=_thresholds(body),
        )
        return as_json(as_dict(await operator_call(budget.SetBudget, wanted)))

    async def delete_budget(request: Request) -> Response:
        """DELETE /admin/budgets?project=&period=&key_id=: 404 when there is no such budget."""
        params = request.query_params
        project = params.get("project")
        if not project:
            raise bad_request("'project' is required.", param="project")
        period, key_id = params.get("period", ""), params.get("key_id") or None
        wanted = budget_pb2.DeleteBudgetRequest(project=project, key_id=key_id, period=period)
        if not (await operator_call(budget.DeleteBudget, wanted)).deleted:
            owner = f"key {key_id}" if key_id else f"project {project}"
            raise ApiError(404, f"{owner} has no {period} budget", code="not_found")
        return as_json({"deleted": True, "project": project, "key_id": key_id, "period": period})

    return [
        Route("/admin/budgets", list_budgets, methods=["GET"]),
        Route("/admin/budgets", put_budget, methods=["PUT"]),
        Route("/admin/budgets", delete_budget, methods=["DELETE"]),
    ]
