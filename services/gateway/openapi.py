"""The gateway's OpenAPI 3.1 description, served at GET /openapi.json (no auth).

It describes every route the app answers, public (project keys, as `Authorization:
Bearer` or `x-api-key`) and admin (the admin token), with request schemas
(`openapi_schemas`) close enough to what the handlers accept that a fuzzer gets past
the first check into budgeting, routing and billing. Admin bodies are closed, as the
admin API refuses unknown fields. A test compares these paths with the app's routes,
so the description cannot drift from the code. The document is built once and
served as the same bytes."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from services.gateway.batches.openapi_paths import batch_paths
from services.gateway.dashboard.openapi_paths import SECURITY_SCHEMES, dashboard_paths
from services.gateway.openapi_schemas import (
    ANY_OBJECT,
    CURRENCY,
    DAY,
    DECIMAL,
    JSON,
    MONTH,
    PERIOD,
    POSITIVE_INT,
    REPORT_BY,
    components,
    obj,
    ref,
)
from services.gateway.responses.openapi_paths import responses_paths

PUBLIC_SECURITY: list[JSON] = [{"projectKey": []}, {"projectApiKey": []}]
ADMIN_SECURITY: list[JSON] = [{"adminToken": []}]


def _body(schema: JSON, *, required: bool = True) -> JSON:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str, schema: JSON, *, required: bool = False) -> JSON:
    return {"name": name, "in": where, "required": where == "path" or required, "schema": schema}


def _query(name: str, schema: JSON | None = None, *, required: bool = False) -> JSON:
    return _param(name, "query", schema or {"type": "string"}, required=required)


def _path(name: str) -> JSON:
    return _param(name, "path", {"type": "string", "minLength": 1})


def _operation(
    summary: str,
    *,
    security: list[JSON],
    ok: JSON,
    status: str = "200",
    body: JSON | None = None,
    parameters: list[JSON] | None = None,
    error: str = "Error",
    media: str = "application/json",
) -> JSON:
    failure = {"description": "an error", "content": {"application/json": {"schema": ref(error)}}}
    operation: JSON = {
        "summary": summary,
        "security": security,
        "responses": {
            status: {"description": "success", "content": {media: {"schema": ok}}},
            "4XX": failure,
            "5XX": failure,
        },
    }
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    return operation


def _public(summary: str, **kw: Any) -> JSON:
    return _operation(summary, security=PUBLIC_SECURITY, **kw)


def _admin(summary: str, **kw: Any) -> JSON:
    return _operation(summary, security=ADMIN_SECURITY, **kw)


def _public_paths() -> JSON:
    anthropic_body = _body(ref("AnthropicMessagesRequest"))
    return {
        "/v1/chat/completions": {
            "post": _public(
                "OpenAI chat completion (stream: true answers server-sent events)",
                body=_body(ref("ChatCompletionRequest")),
                ok=ANY_OBJECT,
            )
        },
        "/v1/completions": {
            "post": _public(
                "OpenAI legacy completion, one chat call a prompt (stream: true answers events)",
                body=_body(ref("CompletionRequest")),
                ok=ANY_OBJECT,
            )
        },
        "/v1/embeddings": {
            "post": _public("OpenAI embeddings", body=_body(ref("EmbeddingRequest")), ok=ANY_OBJECT)
        },
        "/v1/messages": {
            "post": _public(
                "Anthropic Messages API", body=anthropic_body, ok=ANY_OBJECT, error="AnthropicError"
            )
        },
        "/v1/messages/count_tokens": {
            "post": _public(
                "tollgate's estimate of a Messages request's input tokens (not billed)",
                body=anthropic_body,
                ok=obj({"input_tokens": {"type": "integer"}}, ("input_tokens",)),
                error="AnthropicError",
            )
        },
        "/v1/models": {"get": _public("the models this key may call", ok=ANY_OBJECT)},
        "/v1/models/{model}": {
            "get": _public(
                "one model this key may call (404 model_not_found otherwise); the id may hold /",
                ok=ANY_OBJECT,
                parameters=[_path("model")],
            )
        },
        "/v1/usage": {
            "get": _public(
                "the calling key's project: spend, budgets, forecast",
                ok=ANY_OBJECT,
                parameters=[
                    _query("period", MONTH),
                    _query("from", DAY),
                    _query("to", DAY),
                    _query("by", REPORT_BY),
                ],
            )
        },
        "/healthz": {"get": _operation("liveness", security=[], ok=ANY_OBJECT)},
        "/openapi.json": {"get": _operation("this description", security=[], ok=ANY_OBJECT)},
    }


def _admin_paths() -> JSON:
    name, key_id = _path("name"), _path("key_id")
    project_query = _query("project")
    models = {"type": "array", "items": {"type": "string"}}
    priority = {"type": "string", "enum": ["high", "medium", "low", ""]}
    counts = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}
    project_policy_body = obj(
        {
            "allowed_models": models,
            "preferred_models": models,
            "max_tokens": counts,
            "max_prompt_tokens": counts,
            "compact": {"type": "boolean"},
            "priority": priority,
            "downgrade_at_percent": {
                "anyOf": [{"type": "integer", "minimum": 1, "maximum": 100}, {"type": "null"}]
            },
            "downgrade_on_forecast": {"type": "boolean"},
        },
        closed=True,
    )
    seconds = {"type": "integer", "minimum": 0, "maximum": 10 * 366 * 86400}
    expiry = {
        "expires_at": {"type": "string", "format": "date-time"},
        "expires_in_seconds": {**seconds, "minimum": 1},
    }
    key_policy_body = obj({"allowed_models": models, "priority": priority}, closed=True)
    limits_body = obj(
        {
            "key_id": {"type": "string"},
            **{n: {"type": ["integer", "null"], "minimum": 0} for n in ("rpm", "tpm")},
            "max_concurrent": {"type": ["integer", "null"], "minimum": 0},
        },
        closed=True,
    )
    budget_body = obj(
        {
            "project": {"type": "string", "minLength": 1},
            "key_id": {"type": "string"},
            "period": PERIOD,
            "amount": DECIMAL,
            "hard": {"type": "boolean"},
            "alert_at": {
                "anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "string"}]
            },
        },
        ("project", "period", "amount"),
        closed=True,
    )
    price_body = obj(
        {
            "input": DECIMAL,
            "output": DECIMAL,
            "cached_input": DECIMAL,
            "cache_write_input": DECIMAL,
            "currency": CURRENCY,
            "max_output_tokens": POSITIVE_INT,
            # Batch API lines (docs/prices.md): input and output together, or neither.
            "batch_input": DECIMAL,
            "batch_output": DECIMAL,
            "batch_cached_input": DECIMAL,
        },
        ("input", "output"),
        closed=True,
    )
    return {
        "/admin/projects": {
            "get": _admin("list projects", ok=ANY_OBJECT),
            "post": _admin(
                "create a project",
                status="201",
                ok=ANY_OBJECT,
                body=_body(
                    obj(
                        {
                            "name": {"type": "string", "minLength": 1},
                            "currency": CURRENCY,
                            "monthly_budget": DECIMAL,
                        },
                        ("name",),
                        closed=True,
                    )
                ),
            ),
        },
        "/admin/projects/{name}": {
            "get": _admin("one project, by name or id", ok=ANY_OBJECT, parameters=[name]),
            "patch": _admin(
                "set the project's price multiplier",
                ok=ANY_OBJECT,
                parameters=[name],
                body=_body(obj({"price_multiplier": DECIMAL}, ("price_multiplier",), closed=True)),
            ),
        },
        "/admin/projects/{name}/budget": {
            "put": _admin(
                "set or clear the monthly budget",
                ok=ANY_OBJECT,
                parameters=[name],
                body=_body(
                    obj(
                        {"monthly_budget": {"anyOf": [DECIMAL, {"type": "null"}]}},
                        ("monthly_budget",),
                        closed=True,
                    )
                ),
            )
        },
        "/admin/projects/{name}/keys": {
            "get": _admin("the project's keys", ok=ANY_OBJECT, parameters=[name]),
            "post": _admin(
                "create a key (the answer holds its secret, once)",
                status="201",
                ok=ANY_OBJECT,
                parameters=[name],
                body=_body(
                    obj({"name": {"type": "string"}, **expiry}, closed=True), required=False
                ),
            ),
        },
        "/admin/projects/{name}/bill": {
            "get": _admin(
                "the month's bill", ok=ANY_OBJECT, parameters=[name, _query("month", MONTH)]
            )
        },
        "/admin/projects/{name}/whatif": {
            "get": _admin(
                "the month re-priced under another model map, prices or cache-hit rate",
                ok=ANY_OBJECT,
                parameters=[
                    name,
                    _query("month", MONTH),
                    _query("map"),
                    _query("price"),
                    _query("cache_hit_rate"),
                ],
            )
        },
        "/admin/savings": {
            "get": _admin(
                "what cache hits, downgrades and routing rules saved",
                ok=ANY_OBJECT,
                parameters=[project_query, _query("month", MONTH)],
            )
        },
        "/admin/projects/{name}/limits": {
            "put": _admin("set rate limits", ok={}, parameters=[name], body=_body(limits_body)),
            "delete": _admin(
                "clear rate limits", ok=ANY_OBJECT, parameters=[name, _query("key_id")]
            ),
        },
        "/admin/projects/{name}/policy": {
            "get": _admin("the project's model policy", ok=ANY_OBJECT, parameters=[name]),
            "put": _admin(
                "change the fields named of the project's model policy",
                ok=ANY_OBJECT,
                parameters=[name],
                body=_body(project_policy_body),
            ),
        },
        "/admin/keys/{key_id}/policy": {
            "get": _admin("the key's model policy", ok=ANY_OBJECT, parameters=[key_id]),
            "put": _admin(
                "change the fields named of the key's model policy",
                ok=ANY_OBJECT,
                parameters=[key_id],
                body=_body(key_policy_body),
            ),
        },
        "/admin/keys/{key_id}/revoke": {
            "post": _admin("revoke a key", ok=ANY_OBJECT, parameters=[key_id])
        },
        "/admin/keys/{key_id}/rotate": {
            "post": _admin(
                "a new secret for the key (in this answer only); the old one works "
                "grace_seconds longer",
                ok=ANY_OBJECT,
                parameters=[key_id],
                body=_body(obj({"grace_seconds": seconds, **expiry}, closed=True), required=False),
            )
        },
        "/admin/audit": {
            "get": _admin(
                "the audit log of operator changes, newest first (next_before_id pages on)",
                ok=ANY_OBJECT,
                parameters=[
                    project_query,
                    _query("since", {"type": "string", "format": "date-time"}),
                    _query("until", {"type": "string", "format": "date-time"}),
                    _query("action"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _query("before_id", {"type": "integer", "minimum": 1}),
                ],
            )
        },
        "/admin/keys/{key_id}/resume": {
            "post": _admin("lift a spike alert's pause", ok=ANY_OBJECT, parameters=[key_id])
        },
        "/admin/budgets": {
            "get": _admin(
                "budgets with this period's spend", ok=ANY_OBJECT, parameters=[project_query]
            ),
            "put": _admin("create or change a budget", ok=ANY_OBJECT, body=_body(budget_body)),
            "delete": _admin(
                "delete a budget",
                ok=ANY_OBJECT,
                parameters=[
                    _query("project", {"type": "string", "minLength": 1}, required=True),
                    _query("period", PERIOD, required=True),
                    _query("key_id"),
                ],
            ),
        },
        "/admin/alerts": {
            "get": _admin(
                "alert events and their deliveries, newest first",
                ok=ANY_OBJECT,
                parameters=[
                    project_query,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                ],
            )
        },
        "/admin/prices": {"get": _admin("the current prices", ok=ANY_OBJECT)},
        "/admin/prices/{model}": {
            "put": _admin(
                "add a price version from now",
                ok=ANY_OBJECT,
                parameters=[_path("model")],
                body=_body(price_body),
            )
        },
        "/admin/reports": {
            "get": _admin(
                "usage reports as JSON or CSV",
                ok=ANY_OBJECT,
                parameters=[
                    project_query,
                    _query("from", DAY),
                    _query("to", DAY),
                    _query("by", REPORT_BY),
                    _query("format", {"enum": ["json", "csv"]}),
                ],
            )
        },
        "/admin/limits": {
            "get": _admin("every rate limit", ok=ANY_OBJECT, parameters=[project_query])
        },
        "/admin/calls": {
            "get": _admin(
                "a project's calls, one record each, streamed as a JSON array or CSV",
                ok={"type": "array", "items": ANY_OBJECT},
                parameters=[
                    _query("project", {"type": "string", "minLength": 1}, required=True),
                    _query("from", DAY),
                    _query("to", DAY),
                    _query("format", {"enum": ["json", "csv"]}),
                ],
            )
        },
    }


def description() -> JSON:
    """The OpenAPI document, as a fresh dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tollgate gateway",
            "version": "1",
            "description": "OpenAI- and Anthropic-compatible relay with per-token billing, "
            "and its operators' admin API (on when TOLLGATE_ADMIN_TOKEN is set).",
        },
        "paths": {
            **_public_paths(),
            **responses_paths(),
            **batch_paths(),
            **_admin_paths(),
            **dashboard_paths(),
        },
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "projectKey": {"type": "http", "scheme": "bearer", "description": "tg-... key"},
                "projectApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "TOLLGATE_ADMIN_TOKEN",
                },
                **SECURITY_SCHEMES,
            },
        },
    }


@cache
def document_bytes() -> bytes:
    return json.dumps(description(), separators=(",", ":")).encode()


async def openapi_json(request: Request) -> Response:
    """GET /openapi.json: the description, built once."""
    return Response(document_bytes(), media_type="application/json")
