"""The dashboard's routes as services/gateway/openapi.py describes them: the page and
its files (no auth), signing in and out, and the JSON the page polls (the session
cookie)."""

from __future__ import annotations

from typing import Any

from services.gateway.dashboard.session import COOKIE
from services.gateway.openapi_schemas import ANY_OBJECT, JSON, obj, ref

SESSION: list[JSON] = [{"dashboardSession": []}]
SECURITY_SCHEMES: JSON = {
    "dashboardSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": "set by POST /dashboard/api/signin",
    }
}


def _operation(summary: str, *, security: list[JSON], media: str = "application/json",
               ok: JSON | None = None, **extra: Any) -> JSON:  # fmt: skip
    failure = {"description": "an error", "content": {"application/json": {"schema": ref("Error")}}}
    return {
        "summary": summary,
        "security": security,
        "responses": {
            "200": {"description": "success", "content": {media: {"schema": ok or ANY_OBJECT}}},
            "4XX": failure,
            "5XX": failure,
        },
        **extra,
    }


def _project(summary: str, *parameters: JSON) -> JSON:
    path = {"name": "name", "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1}}  # fmt: skip
    return {"get": _operation(summary, security=SESSION, parameters=[path, *parameters])}


def dashboard_paths() -> JSON:
    token_body = obj({"token": {"type": "string", "minLength": 1}}, ("token",), closed=True)
    limit = {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 200}}  # fmt: skip
    text = {"type": "string"}
    return {
        "/dashboard": {
            "get": _operation("the cost console (HTML)", security=[], media="text/html", ok=text)
        },
        "/dashboard/static/{name}": {
            "get": _operation(
                "the console's script, style and vendored chart library",
                security=[],
                media="text/javascript",
                ok=text,
                parameters=[
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/dashboard/api/signin": {
            "post": _operation(
                "sign in with the admin token (every project) or a project key (its own); "
                "sets an HttpOnly, SameSite=Strict session cookie",
                security=[],
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": token_body}},
                },
            )
        },
        "/dashboard/api/signout": {
            "post": _operation("end the session and clear its cookie", security=[])
        },
        "/dashboard/api/session": {"get": _operation("who is signed in", security=SESSION)},
        "/dashboard/api/projects": {
            "get": _operation("the projects this session may see", security=SESSION)
        },
        "/dashboard/api/projects/{name}/summary": _project(
            "the month's bill and forecast, budgets with their percentages, savings"
        ),
        "/dashboard/api/projects/{name}/series": _project(
            "spend by hour (last 48) and by day (last 30), UTC"
        ),
        "/dashboard/api/projects/{name}/breakdown": _project(
            "the month's spend by model, key and end user"
        ),
        "/dashboard/api/projects/{name}/calls": _project(
            "the project's latest calls, newest first", limit
        ),
        "/dashboard/api/projects/{name}/alerts": _project("alerts fired, newest first"),
        "/dashboard/api/audit": {
            "get": _operation(
                "the operators' latest changes, from the audit log (operators only)",
                security=SESSION,
            )
        },
    }
