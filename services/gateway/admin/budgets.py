"""Budgets on projects and keys: GET, PUT and DELETE /admin/budgets, the HTTP side of
`tollgate budget list|set|delete` (the same functions in tollgate.budgets)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, body_of, checked, only_fields, text_field
from services.gateway.errors import ApiError, bad_request
from tollgate import budgets
from tollgate.money import to_nano

FIELDS = ("project", "key_id", "period", "amount", "hard", "alert_at")


def _thresholds(body: dict[str, Any]) -> str | list[int] | None:
    value = body.get("alert_at")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(p, int) and not isinstance(p, bool) for p in value
    ):
        return value
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


def routes(engine: Engine) -> list[Route]:
    async def list_budgets(request: Request) -> Response:
        """GET /admin/budgets?project=: each budget with its spend in the current period."""
        project = request.query_params.get("project") or None
        shown = await asyncio.to_thread(budgets.list_budgets, engine, project)
        return as_json({"data": [asdict(b) for b in shown]})

    async def put_budget(request: Request) -> Response:
        """PUT /admin/budgets {"project", "key_id"?, "period", "amount", "hard"?, "alert_at"?}:
        create or change the budget of that owner and period. Every field is checked
        before anything is written."""
        body = await body_of(request)
        only_fields(body, FIELDS)
        project = text_field(body, "project", required=True) or ""
        key_id = text_field(body, "key_id")
        period = checked("period", budgets.check_period, text_field(body, "period", required=True))
        amount = text_field(body, "amount", required=True) or ""
        checked("amount", to_nano, amount)
        hard = _hard(body)
        alert_at = checked("alert_at", budgets.parse_thresholds, _thresholds(body))

        def write() -> budgets.BudgetInfo:
            try:
                return budgets.set_budget(
                    engine,
                    project,
                    period=period,
                    amount=amount,
                    key_id=key_id,
                    hard=hard,
                    alert_at=alert_at,
                )
            except budgets.BudgetError as exc:  # the key is another project's
                raise bad_request(str(exc), param="key_id") from None

        return as_json(asdict(await asyncio.to_thread(write)))

    async def delete_budget(request: Request) -> Response:
        """DELETE /admin/budgets?project=&period=&key_id=: 404 when there is no such budget."""
        params = request.query_params
        project = params.get("project")
        if not project:
            raise bad_request("'project' is required.", param="project")
        period = checked("period", budgets.check_period, params.get("period", ""))
        key_id = params.get("key_id") or None

        def delete() -> bool:
            try:
                return budgets.delete_budget(engine, project, period=period, key_id=key_id)
            except budgets.BudgetError as exc:
                raise bad_request(str(exc), param="key_id") from None

        if not await asyncio.to_thread(delete):
            owner = f"key {key_id}" if key_id else f"project {project}"
            raise ApiError(404, f"{owner} has no {period} budget", code="not_found")
        return as_json({"deleted": True, "project": project, "key_id": key_id, "period": period})

    return [
        Route("/admin/budgets", list_budgets, methods=["GET"]),
        Route("/admin/budgets", put_budget, methods=["PUT"]),
        Route("/admin/budgets", delete_budget, methods=["DELETE"]),
    ]
