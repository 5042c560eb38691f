"""GET /v1/models and GET /v1/models/{id}: the models this key may call (its
project's and its own allow-lists over what the router serves, aliases and routes
included), in OpenAI's list and model formats.

A model the key may not call and a model that does not exist get the same 404
(`model_not_found`), so a key learns nothing of what other projects may call. An id
may hold `/` and `:` (`org/model:tag`); the route takes the rest of the path."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.gateway.deps import Deps
from services.gateway.errors import unknown_model
from services.gateway.policy import allowed_models, allows
from services.gateway.steering import policy_rules
from services.gateway.validation import MAX_TEXT_CHARS
from tollgate.config import Route

# OpenAI's `created`: tollgate has no per-model date, so the gateway's start.
CREATED = int(time.time())

Handler = Callable[[Request], Awaitable[Response]]


def model_object(name: str, route: Route) -> dict[str, object]:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": route.provider}


def models_handler(deps: Deps) -> Handler:
    async def models(request: Request) -> Response:
        caller, _ = await deps.gate.admit(request, calling=False)
        routes = await deps.models.all()
        project, key = await policy_rules(deps.policies, caller.project_id, caller.key_id)
        data = [model_object(name, routes[name]) for name in allowed_models(project, key, routes)]
        return JSONResponse({"object": "list", "data": data})

    return models


def model_handler(deps: Deps) -> Handler:
    async def model(request: Request) -> Response:
        caller, _ = await deps.gate.admit(request, calling=False)
        name = request.path_params["model"]
        if len(name) > MAX_TEXT_CHARS or "\x00" in name:  # no model has such a name
            raise unknown_model(name[:MAX_TEXT_CHARS])
        route = await deps.models.get(name)
        project, key = await policy_rules(deps.policies, caller.project_id, caller.key_id)
        if route is None or not allows(project, key, name):
            raise unknown_model(name)
        return JSONResponse(model_object(name, route))

    return model
