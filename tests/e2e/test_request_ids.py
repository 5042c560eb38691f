"""Every answer of the running gateway carries its own request id (`x-request-id` and
`x-tollgate-request-id`), errors of every front door included, so the SDKs'
`request_id` is always set; a call that reaches the ledger is recorded under that id,
and a client's own `x-request-id` never is."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import update

from tests.conftest import postgres_schema
from tests.e2e.openai_sdk_helpers import client, unique, wait_rows
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import API_KEYS
from tollgate.keys import hash_secret

TOKEN = "admin-token-for-request-id-tests"
REQUEST_ID = re.compile(r"req_[0-9a-f]{32}")
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is a token?"}]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def suite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp(f"suite-ids-{request.param}")
    env = {"TOLLGATE_ADMIN_TOKEN": TOKEN}
    if request.param == "sqlite":
        running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}", extra_env=env)
        yield running
        stop_suite(running)
    else:
        with postgres_schema() as url:
            running = start_suite(home, url, extra_env=env)
            yield running
            stop_suite(running)


def own_id(headers: Any) -> str:
    given = headers["x-request-id"]
    assert REQUEST_ID.fullmatch(given), given
    assert headers["x-tollgate-request-id"] == given
    return str(given)


def new_key(suite: Suite, budget: str | None = None) -> tuple[str, str]:
    return suite.project_with_key(unique("ids"), budget=budget)


def too_large(suite: Suite, secret: str) -> httpx.Response:
    """A chat call declaring a body over the 32 MiB cap, refused before it is read (only
    its headers are sent: httpx will not declare a length it does not send)."""
    with socket.create_connection(("127.0.0.1", suite.http_port), timeout=30) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"authorization: Bearer " + secret.encode() + b"\r\n"
            b"content-type: application/json\r\ncontent-length: 40000000\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += conn.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


def sdk_error(call: Any, kind: type[openai.APIStatusError]) -> openai.APIStatusError:
    with pytest.raises(kind) as caught:
        call()
    assert caught.value.request_id is not None
    own_id(caught.value.response.headers)
    assert caught.value.request_id == caught.value.response.headers["x-request-id"]
    return caught.value


def test_the_sdk_error_has_our_request_id_for_401_400_429_403_404(suite: Suite) -> None:
    _, secret = new_key(suite)
    chat = client(suite, secret).chat.completions
    sdk_error(
        lambda: client(suite, "tg-wrong").chat.completions.create(model="demo", messages=MESSAGES),
        openai.AuthenticationError,
    )
    sdk_error(lambda: chat.create(model="demo", messages=[]), openai.BadRequestError)
    sdk_error(lambda: chat.create(model="no-such-model", messages=MESSAGES), openai.NotFoundError)
    sdk_error(
        lambda: client(suite, secret).completions.create(model="demo", prompt="x", suffix="y"),
        openai.BadRequestError,
    )
    _, poor = new_key(suite, budget="0.000000001")
    refused = sdk_error(
        lambda: client(suite, poor).chat.completions.create(model="demo", messages=MESSAGES),
        openai.RateLimitError,
    )
    assert refused.code == "budget_exceeded"
    _, paused = new_key(suite)
    with suite.engine.begin() as conn:
        key = API_KEYS.c.key_hash == hash_secret(paused)
        conn.execute(update(API_KEYS).where(key).values(paused_at=datetime.now(UTC)))
    sdk_error(
        lambda: client(suite, paused).chat.completions.create(model="demo", messages=MESSAGES),
        openai.PermissionDeniedError,
    )


def test_every_other_answer_has_one_too(suite: Suite) -> None:
    _, secret = new_key(suite)
    auth = {"Authorization": f"Bearer {secret}"}
    base = suite.base_url  # .../v1
    root = base.removesuffix("/v1")
    admin_auth = {"Authorization": f"Bearer {TOKEN}"}
    answers = [
        (httpx.get(f"{base}/no-such-route", headers=auth), 404),
        (httpx.put(f"{base}/chat/completions", headers=auth), 405),
        (httpx.post(f"{base}/chat/completions", headers=auth, content=b"{"), 400),
        (too_large(suite, secret), 413),
        (httpx.post(f"{base}/messages", headers=auth, json={}), 400),
        (httpx.get(f"{root}/admin/projects"), 401),
        (
            httpx.get(f"{root}/admin/projects/no-such", headers=admin_auth),
            404,
        ),
        (httpx.get(f"{root}/healthz"), 200),
        (httpx.get(f"{base}/models", headers=auth), 200),
    ]
    ids = set()
    for reply, status in answers:
        assert reply.status_code == status, (reply.request.url, reply.text)
        ids.add(own_id(reply.headers))
    assert len(ids) == len(answers)


def test_the_anthropic_sdk_sees_the_same_id(suite: Suite) -> None:
    _, secret = new_key(suite)
    sdk = anthropic.Anthropic(
        base_url=suite.base_url.removesuffix("/v1"), api_key=secret, max_retries=0
    )
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk.messages.create(model="demo", max_tokens=0, messages=[{"role": "user", "content": "x"}])
    assert caught.value.request_id == own_id(caught.value.response.headers)


def test_a_call_is_recorded_under_the_id_its_answer_carries(suite: Suite) -> None:
    project, secret = new_key(suite)
    sdk = client(suite, secret)
    theirs = "req_" + "f" * 32
    raw = sdk.chat.completions.with_raw_response.create(
        model="demo", messages=MESSAGES, max_tokens=5, extra_headers={"x-request-id": theirs}
    )
    plain = own_id(raw.headers)
    assert plain != theirs and raw.headers["x-client-request-id"] == theirs
    with sdk.chat.completions.with_streaming_response.create(
        model="demo", messages=MESSAGES, max_tokens=5, stream=True
    ) as response:
        streamed = own_id(response.headers)
        list(response.iter_lines())
    messages = anthropic.Anthropic(
        base_url=suite.base_url.removesuffix("/v1"), api_key=secret, max_retries=0
    ).messages.with_raw_response.create(
        model="demo", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    anthropic_id = own_id(messages.headers)
    assert messages.headers["request-id"] == anthropic_id
    rows = wait_rows(suite, project, 3)
    assert sorted(r.request_id for r in rows) == sorted([plain, streamed, anthropic_id])
