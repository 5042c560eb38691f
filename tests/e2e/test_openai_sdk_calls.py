"""The whole suite, called with the official OpenAI SDK, as a user would: answers,
streams, tools and images, and the refusals a caller sees in OpenAI's format."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import httpx
import openai
import pytest

from services.budget.admin import operations as admin
from tests.e2e.openai_sdk_helpers import MESSAGES, client, ledger_rows, unique, wait_rows
from tests.e2e.suite import Suite
from tollgate import tokens
from tollgate.money import from_nano


def test_chat_completion_with_the_sync_sdk(suite: Suite) -> None:
    project, secret = suite.project_with_key(unique("sync"))
    raw = client(suite, secret).chat.completions.with_raw_response.create(
        model="demo",
        messages=MESSAGES,
        user="alice",  # type: ignore[arg-type]
    )
    reply = raw.parse()
    assert raw.headers["x-request-id"].startswith("req_")
    assert reply.choices[0].message.content.startswith("Hello from tollgate")
    assert "What is a token bucket?" in reply.choices[0].message.content
    assert reply.usage.prompt_tokens == tokens.count_chat_prompt(MESSAGES, "demo")
    (row,) = wait_rows(suite, project, 1)
    assert row.request_id == raw.headers["x-request-id"]
    assert (row.prompt_tokens, row.completion_tokens) == (
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
    )
    assert (row.end_user, row.status, row.usage_source) == ("alice", "ok", "provider")
    # demo costs CNY 21 / 105 per million tokens
    expected = (Decimal(row.prompt_tokens) * 21 + Decimal(row.completion_tokens) * 105) / 10**6
    assert from_nano(row.cost_nano) == expected


def test_streaming_matches_the_non_streaming_answer(suite: Suite) -> None:
    project, secret = suite.project_with_key(unique("stream"))
    sdk = client(suite, secret)
    whole = sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    chunks = list(
        sdk.chat.completions.create(
            model="demo",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    rows = wait_rows(suite, project, 2)
    assert sorted(r.stream for r in rows) == [False, True]
    assert rows[0].cost_nano == rows[1].cost_nano > 0


def test_streaming_without_include_usage_sends_no_usage(suite: Suite) -> None:
    _, secret = suite.project_with_key(unique("nousage"))
    chunks = list(
        client(suite, secret).chat.completions.create(
            model="demo",
            messages=MESSAGES,
            stream=True,  # type: ignore[arg-type]
        )
    )
    assert chunks and all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


def test_the_async_sdk_streams_and_answers_concurrently(suite: Suite) -> None:
    project, secret = suite.project_with_key(unique("async"))

    async def main() -> list[str]:
        sdk = openai.AsyncOpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)

        async def one(i: int) -> str:
            messages = [{"role": "user", "content": f"question {i}"}]
            stream = await sdk.chat.completions.create(
                model="demo",
                messages=messages,
                stream=True,  # type: ignore[arg-type]
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream])

        try:
            return await asyncio.gather(*(one(i) for i in range(10)))
        finally:
            await sdk.close()

    answers = asyncio.run(main())
    assert all(f"question {i}" in answer for i, answer in enumerate(answers))
    assert len(wait_rows(suite, project, 10)) == 10


def test_an_unknown_key_gets_401_in_openai_format(suite: Suite) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        client(suite, "tg-not-a-real-key").chat.completions.create(
            model="demo",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    assert info.value.status_code == 401
    assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    reply = httpx.post(f"{suite.base_url}/chat/completions", json={"model": "demo"})
    assert reply.status_code == 401
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}


def test_a_revoked_key_of_a_hard_budgeted_project_is_refused_from_the_next_request(
    suite: Suite,
) -> None:
    name = unique("revoke")
    _, secret = suite.project_with_key(name, budget="5")  # every call asks Budget
    sdk = client(suite, secret)
    sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    (key,) = admin.list_keys(suite.engine, name)
    suite.cli("key", "revoke", key.id)
    with pytest.raises(openai.AuthenticationError) as info:
        sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    assert "revoked" in info.value.message
    with pytest.raises(openai.AuthenticationError):
        sdk.models.list()


def test_a_revoked_key_without_a_hard_budget_is_refused_within_a_second(suite: Suite) -> None:
    # Without a hard budget the gateway may reuse Budget's answer for up to a second,
    # and its key watcher sees the revocation within one: refused within ~2 s.
    name = unique("revoke")
    _, secret = suite.project_with_key(name)
    sdk = client(suite, secret)
    sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    (key,) = admin.list_keys(suite.engine, name)
    suite.cli("key", "revoke", key.id)
    revoked = time.monotonic()
    with pytest.raises(openai.AuthenticationError) as info:
        while time.monotonic() - revoked < 2:
            sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
            time.sleep(0.05)
    assert "revoked" in info.value.message
    with pytest.raises(openai.AuthenticationError):
        sdk.models.list()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"", None),
        (json.dumps({"messages": MESSAGES}).encode(), "model"),
        (json.dumps({"model": "demo"}).encode(), "messages"),
        (json.dumps({"model": "demo", "messages": []}).encode(), "messages"),
        (
            json.dumps(
                {"model": "demo", "messages": [{"role": "wizard", "content": "x"}]}
            ).encode(),
            "messages[0].role",
        ),
        (
            json.dumps({"model": "demo", "messages": [{"role": "user"}]}).encode(),
            "messages[0].content",
        ),
        (json.dumps({"model": "demo", "messages": MESSAGES, "stream": "yes"}).encode(), "stream"),
        (
            json.dumps({"model": "demo", "messages": MESSAGES, "max_tokens": -5}).encode(),
            "max_tokens",
        ),
        (
            json.dumps({"model": "demo", "messages": MESSAGES, "max_tokens": 1.5}).encode(),
            "max_tokens",
        ),
        (json.dumps({"model": 7, "messages": MESSAGES}).encode(), "model"),
    ],
)
def test_a_malformed_body_gets_400_naming_the_field_and_writes_nothing(
    suite: Suite, body: bytes, param: str | None
) -> None:
    project, secret = suite.project_with_key(unique("bad"))
    reply = httpx.post(
        f"{suite.base_url}/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert "Traceback" not in reply.text
    assert ledger_rows(suite, project) == []


def test_an_unknown_model_gets_404(suite: Suite) -> None:
    project, secret = suite.project_with_key(unique("model"))
    with pytest.raises(openai.NotFoundError) as info:
        client(suite, secret).chat.completions.create(
            model="gpt-nonexistent",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert ledger_rows(suite, project) == []


def test_unknown_paths_answer_in_openai_format(suite: Suite) -> None:
    reply = httpx.get(f"{suite.base_url}/nope")
    assert reply.status_code == 404 and "error" in reply.json()
    reply = httpx.get(f"{suite.base_url}/chat/completions")
    assert reply.status_code == 405 and "error" in reply.json()


def test_models_lists_what_the_key_may_call(suite: Suite) -> None:
    _, secret = suite.project_with_key(unique("models"))
    assert [m.id for m in client(suite, secret).models.list()] == ["demo", "demo-embedding"]


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_tools_round_trip_through_the_sdk(suite: Suite) -> None:
    project, secret = suite.project_with_key(unique("tools"))
    sdk = client(suite, secret)
    reply = sdk.chat.completions.create(
        model="demo",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="required",
    )
    (call,) = reply.choices[0].message.tool_calls  # type: ignore[misc]
    assert call.function.name == "get_weather" and reply.choices[0].finish_reason == "tool_calls"
    assert reply.usage.prompt_tokens == tokens.count_chat_prompt(MESSAGES, "demo", [WEATHER_TOOL])
    follow_up = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    streamed = list(
        sdk.chat.completions.create(
            model="demo",
            messages=follow_up,  # type: ignore[arg-type]
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            stream=True,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed)
    assert len(wait_rows(suite, project, 2)) == 2


def test_images_in_the_prompt_are_accepted_and_counted(suite: Suite) -> None:
    _, secret = suite.project_with_key(unique("vision"))
    text_only = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}]
    with_image = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        }
    ]
    sdk = client(suite, secret)
    plain = sdk.chat.completions.create(model="demo", messages=text_only)  # type: ignore[arg-type]
    seen = sdk.chat.completions.create(model="demo", messages=with_image)  # type: ignore[arg-type]
    assert seen.usage.prompt_tokens > plain.usage.prompt_tokens
    assert seen.usage.prompt_tokens == tokens.count_chat_prompt(with_image, "demo")


def test_the_admin_api_is_off_without_an_admin_token(suite: Suite) -> None:
    reply = httpx.get(suite.base_url.removesuffix("/v1") + "/admin/projects")
    assert reply.status_code == 404 and "TOLLGATE_ADMIN_TOKEN" in reply.json()["error"]["message"]


def test_a_paused_key_gets_403_until_resumed(suite: Suite) -> None:
    from sqlalchemy import update

    from tollgate.db import utcnow
    from tollgate.db.models import API_KEYS

    name = unique("paused")
    _, secret = suite.project_with_key(name)
    (key,) = admin.list_keys(suite.engine, name)
    with suite.engine.begin() as conn:
        conn.execute(update(API_KEYS).where(API_KEYS.c.id == key.id).values(paused_at=utcnow()))
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(suite, secret).chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    body = info.value.body
    assert (body["type"], body["code"]) == ("permission_error", "key_paused")  # type: ignore[index]
    assert "operator can resume" in body["message"]  # type: ignore[index]
    with suite.engine.begin() as conn:
        conn.execute(update(API_KEYS).where(API_KEYS.c.id == key.id).values(paused_at=None))
    assert client(suite, secret).chat.completions.create(model="demo", messages=MESSAGES).choices  # type: ignore[arg-type]
