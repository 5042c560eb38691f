"""Every answer of the gateway app carries its own request id, as `x-request-id` and
`x-tollgate-request-id`: routes the router does not know (404, 405), refusals at the
door (401), the admin API, the Anthropic front door and unhandled errors (500). A
client's `x-request-id` is never taken as ours. (That a call's id is its ledger row's
is tests/e2e/test_request_ids.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.request_id import RequestIds

REQUEST_ID = re.compile(r"req_[0-9a-f]{32}")


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    # The gRPC stubs are never reached: every request here is answered before them. The
    # database has no tables, so a key look-up fails: an unhandled error, a 500.
    unused: Any = object()
    app = create_app(
        create_engine(f"sqlite:///{tmp_path / 'no-tables.db'}"),
        admin_token="t" * 32,
        budget=unused,
        router=unused,
        metering=unused,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def request_id(reply: Any) -> str:
    given = reply.headers["x-request-id"]
    assert REQUEST_ID.fullmatch(given), given
    assert reply.headers["x-tollgate-request-id"] == given
    return str(given)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/no-such-route", 404),
        ("PUT", "/v1/chat/completions", 405),
        ("POST", "/v1/chat/completions", 401),
        ("GET", "/v1/models", 401),
        ("GET", "/v1/models/org/some:model", 401),
        ("POST", "/v1/completions", 401),
        ("POST", "/v1/embeddings", 401),
        ("GET", "/admin/projects", 401),
        ("GET", "/healthz", 200),
    ],
)
def test_every_answer_has_a_request_id(
    http: TestClient, method: str, path: str, status: int
) -> None:
    reply = http.request(method, path, json={})
    assert reply.status_code == status, reply.text
    request_id(reply)
    if status >= 400:
        assert reply.json()["error"]["message"]


def test_the_anthropic_front_door_names_the_same_id_three_ways(http: TestClient) -> None:
    reply = http.post("/v1/messages", json={})
    assert reply.status_code == 401
    given = request_id(reply)
    assert reply.headers["request-id"] == given
    assert reply.json()["request_id"] == given


def test_an_unhandled_error_is_a_500_with_its_request_id(http: TestClient) -> None:
    reply = http.get("/v1/models", headers={"Authorization": "Bearer tg-some-key"})
    assert reply.status_code == 500
    assert reply.json()["error"]["type"] == "server_error"
    request_id(reply)


def test_each_request_has_its_own_id(http: TestClient) -> None:
    ids = {request_id(http.get("/v1/models")) for _ in range(20)}
    assert len(ids) == 20


def test_a_client_request_id_is_echoed_never_taken_as_ours(http: TestClient) -> None:
    theirs = "req_" + "0" * 32
    reply = http.get("/v1/models", headers={"x-request-id": theirs})
    assert request_id(reply) != theirs
    assert reply.headers["x-client-request-id"] == theirs
    # One that is not a plain token is not echoed at all.
    for odd in ["x" * 129, "two words"]:
        reply = http.get("/v1/models", headers={"x-request-id": odd})
        assert request_id(reply) != odd
        assert "x-client-request-id" not in reply.headers


def test_a_route_s_own_id_headers_are_replaced_by_ours() -> None:
    async def claims_an_id(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"x-request-id", b"req_mine"), (b"x-tollgate-request-id", b"req_mine")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    reply = TestClient(RequestIds(claims_an_id)).get("/", headers={"x-request-id": "theirs"})
    assert reply.headers.get_list("x-request-id") == [request_id(reply)]
    assert reply.headers.get_list("x-tollgate-request-id") == [request_id(reply)]
    assert reply.headers.get_list("x-client-request-id") == ["theirs"]
