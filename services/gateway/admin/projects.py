"""Projects and their keys: /admin/projects..., /admin/keys/{id}/..., over Budget's
admin RPCs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, body_of, operator_call, text_field
from services.gateway.errors import bad_request
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2, budget_pb2_grpc

EXPIRY = ("expires_at", "expires_in_seconds")
MAX_SECONDS = 10 * 366 * 86400


def whole_field(body: dict[str, Any], name: str) -> int | None:
    """A whole number of seconds (0 to ten years), or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SECONDS:
        raise bad_request(f"'{name}' must be a whole number of seconds.", param=name)
    return value


def expiry_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The key's expiry as the RPCs take it (Budget checks it is in the future)."""
    return {
        "expires_at": text_field(body, "expires_at"),
        "expires_in_seconds": whole_field(body, "expires_in_seconds"),
    }


def routes(budget: budget_pb2_grpc.BudgetStub) -> list[Route]:
    async def list_projects(request: Request) -> Response:
        listed = await operator_call(budget.ListProjects, budget_pb2.ListProjectsRequest())
        return as_json({"data": [as_dict(p) for p in listed.projects]})

    async def get_project(request: Request) -> Response:
        wanted = budget_pb2.ProjectRef(project=request.path_params["name"])
        return as_json(as_dict(await operator_call(budget.GetProject, wanted)))

    async def create_project(request: Request) -> Response:
        body = await body_of(request, ("name", "currency", "monthly_budget"))
        wanted = budget_pb2.CreateProjectRequest(
            name=text_field(body, "name", required=True) or "",
            currency=text_field(body, "currency") or "CNY",
            monthly_budget=text_field(body, "monthly_budget"),
        )
        return as_json(as_dict(await operator_call(budget.CreateProject, wanted)), 201)

    async def patch_project(request: Request) -> Response:
        """PATCH /admin/projects/{name} {"price_multiplier": "1.15"}"""
        body = await body_of(request, ("price_multiplier",))
        wanted = budget_pb2.SetPriceMultiplierRequest(
            project=request.path_params["name"],
            multiplier=text_field(body, "price_multiplier", required=True) or "",
        )
        return as_json(as_dict(await operator_call(budget.SetPriceMultiplier, wanted)))

    async def set_monthly_budget(request: Request) -> Response:
        body = await body_of(request, ("monthly_budget",))
        if "monthly_budget" not in body:  # `{}` (or a typo) must not delete the budget
            raise bad_request(
                "'monthly_budget' is required: an amount, or null for none.",
                param="monthly_budget",
            )
        wanted = budget_pb2.SetMonthlyBudgetRequest(
            project=request.path_params["name"], amount=text_field(body, "monthly_budget")
        )
        return as_json(as_dict(await operator_call(budget.SetMonthlyBudget, wanted)))

    async def list_keys(request: Request) -> Response:
        wanted = budget_pb2.ProjectRef(project=request.path_params["name"])
        listed = await operator_call(budget.ListKeys, wanted)
        return as_json({"data": [as_dict(k) for k in listed.keys]})

    async def create_key(request: Request) -> Response:
        """POST /admin/projects/{name}/keys {"name", "expires_at" | "expires_in_seconds"}"""
        body = await body_of(request, ("name", *EXPIRY), optional=True)
        wanted = budget_pb2.CreateKeyRequest(
            project=request.path_params["name"],
            name=text_field(body, "name") or "",
            **expiry_fields(body),
        )
        created = await operator_call(budget.CreateKey, wanted)
        return as_json({**as_dict(created.key), "secret": created.secret}, 201)

    async def rotate_key(request: Request) -> Response:
        """POST /admin/keys/{id}/rotate {"grace_seconds", "expires_at" | "expires_in_seconds"}:
        a new secret (in this answer only); the old one works until the grace ends."""
        body = await body_of(request, ("grace_seconds", *EXPIRY), optional=True)
        wanted = budget_pb2.RotateKeyRequest(
            key_id=request.path_params["key_id"],
            grace_seconds=whole_field(body, "grace_seconds") or 0,
            **expiry_fields(body),
        )
        rotated = await operator_call(budget.RotateKey, wanted)
        return as_json({**as_dict(rotated.key), "secret": rotated.secret})

    async def revoke_key(request: Request) -> Response:
        wanted = budget_pb2.KeyRef(key_id=request.path_params["key_id"])
        return as_json(as_dict(await operator_call(budget.RevokeKey, wanted)))

    async def resume_key(request: Request) -> Response:
        """POST /admin/keys/{id}/resume: clear a spike alert's pause (`tollgate key resume`)."""
        wanted = budget_pb2.KeyRef(key_id=request.path_params["key_id"])
        resumed = await operator_call(budget.ResumeKey, wanted)
        return as_json({**as_dict(resumed.key), "was_paused": resumed.was_paused})

    return [
        Route("/admin/projects", list_projects, methods=["GET"]),
        Route("/admin/projects", create_project, methods=["POST"]),
        Route("/admin/projects/{name}", get_project, methods=["GET"]),
        Route("/admin/projects/{name}", patch_project, methods=["PATCH"]),
        Route("/admin/projects/{name}/budget", set_monthly_budget, methods=["PUT"]),
        Route("/admin/projects/{name}/keys", list_keys, methods=["GET"]),
        Route("/admin/projects/{name}/keys", create_key, methods=["POST"]),
        Route("/admin/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
        Route("/admin/keys/{key_id}/rotate", rotate_key, methods=["POST"]),
        Route("/admin/keys/{key_id}/resume", resume_key, methods=["POST"]),
    ]
