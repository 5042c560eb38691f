"""GET /openapi.json describes exactly the routes the gateway answers, public and
admin, and schemathesis can load every operation of it (the fuzz suite's input)."""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis
from schemathesis.core.result import Ok
from sqlalchemy import create_engine
from starlette.routing import Route
from starlette.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.openapi import description

METHODS = {"get", "post", "put", "patch", "delete"}


def _app(sqlite_url: str) -> Any:
    # The gRPC stubs are never called: only the routes and GET /openapi.json are used.
    unused: Any = object()
    return create_app(
        create_engine(sqlite_url),
        admin_token="t" * 32,
        budget=unused,
        router=unused,
        metering=unused,
    )


def _served_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route, path converters dropped: {model:path} -> {model}."""
    found = set()
    for route in app.routes:
        assert isinstance(route, Route), f"not a plain route: {route!r}"
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        found |= {(m.lower(), path) for m in route.methods or () if m.lower() in METHODS}
    return found


def _described_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }


def test_every_route_is_described_and_every_description_is_a_route(sqlite_url: str) -> None:
    served = _served_routes(_app(sqlite_url))
    described = _described_routes(description())
    assert served - described == set(), "routes missing from services/gateway/openapi.py"
    assert described - served == set(), "described routes the gateway does not answer"
    assert len(served) >= 27


def test_the_description_is_served_without_auth_as_the_same_bytes(sqlite_url: str) -> None:
    with TestClient(_app(sqlite_url)) as http:
        first = http.get("/openapi.json")
        second = http.get("/openapi.json")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.content == second.content
    assert json.loads(first.content) == description()


def test_every_operation_loads_in_schemathesis() -> None:
    document = description()
    schema = schemathesis.openapi.from_dict(document)
    results = list(schema.get_all_operations())
    errors = [str(r.err()) for r in results if not isinstance(r, Ok)]
    assert not errors
    assert len(results) == len(_described_routes(document))


def test_the_error_schemas_match_what_the_gateway_answers(sqlite_url: str) -> None:
    """An unknown key gets OpenAI's error JSON on /v1/chat/completions and Anthropic's
    on /v1/messages, each with the fields its schema requires."""
    schemas = description()["components"]["schemas"]
    with TestClient(_app(sqlite_url)) as http:
        openai = http.post("/v1/chat/completions", headers={"Authorization": "Bearer tg-x"})
        anthropic = http.post("/v1/messages", headers={"x-api-key": "tg-x"})
    assert openai.status_code == anthropic.status_code == 401
    required = schemas["Error"]["properties"]["error"]["required"]
    assert sorted(openai.json()["error"]) == sorted(required)
    assert set(schemas["AnthropicError"]["required"]) <= set(anthropic.json())
