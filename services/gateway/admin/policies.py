"""Model policies: GET and PUT /admin/projects/{name}/policy, GET and PUT
/admin/keys/{key_id}/policy, over Budget's admin RPCs. A PUT changes the fields it
names (others stay) and refuses any field it does not know."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, body_of, json_value, operator_call
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2, budget_pb2_grpc

PROJECT_FIELDS = (
    "allowed_models",
    "preferred_models",
    "max_tokens",
    "max_prompt_tokens",
    "compact",
    "priority",
    "downgrade_at_percent",
    "downgrade_on_forecast",
)
KEY_FIELDS = ("allowed_models", "priority")


def routes(budget: budget_pb2_grpc.BudgetStub) -> list[Route]:
    async def get_project_policy(request: Request) -> Response:
        wanted = budget_pb2.ProjectRef(project=request.path_params["name"])
        return as_json(as_dict(await operator_call(budget.GetProjectPolicy, wanted)))

    async def put_project_policy(request: Request) -> Response:
        """PUT /admin/projects/{name}/policy {"allowed_models"?, "preferred_models"?,
        "max_tokens"?, "max_prompt_tokens"?, "compact"?, "priority"?,
        "downgrade_at_percent"?, "downgrade_on_forecast"?}"""
        body = await body_of(request, PROJECT_FIELDS)
        wanted = budget_pb2.SetProjectPolicyRequest(
            project=request.path_params["name"],
            fields={name: json_value(value) for name, value in body.items()},
        )
        return as_json(as_dict(await operator_call(budget.SetProjectPolicy, wanted)))

    async def get_key_policy(request: Request) -> Response:
        wanted = budget_pb2.KeyRef(key_id=request.path_params["key_id"])
        return as_json(as_dict(await operator_call(budget.GetKeyPolicy, wanted)))

    async def put_key_policy(request: Request) -> Response:
        """PUT /admin/keys/{key_id}/policy {"allowed_models"?, "priority"?}"""
        body = await body_of(request, KEY_FIELDS)
        wanted = budget_pb2.SetKeyPolicyRequest(
            key_id=request.path_params["key_id"],
            fields={name: json_value(value) for name, value in body.items()},
        )
        return as_json(as_dict(await operator_call(budget.SetKeyPolicy, wanted)))

    return [
        Route("/admin/projects/{name}/policy", get_project_policy, methods=["GET"]),
        Route("/admin/projects/{name}/policy", put_project_policy, methods=["PUT"]),
        Route("/admin/keys/{key_id}/policy", get_key_policy, methods=["GET"]),
        Route("/admin/keys/{key_id}/policy", put_key_policy, methods=["PUT"]),
    ]
