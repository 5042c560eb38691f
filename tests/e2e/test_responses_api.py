"""The Responses API front door (/v1/responses) through the whole suite, called with the
official openai SDK (`client.responses.create`, `.stream`, `create(stream=True)`):
translated to chat for the demo model, an OpenAI-compatible upstream without the
Responses API and an Anthropic upstream; passed through to an upstream that speaks it
(the OpenAI mock, `apis: [responses]`). Each call leaves one ledger row whose tokens are
the usage the client saw; stored responses continue with `previous_response_id`, can
be fetched and deleted, and only by their own project."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from services.router.providers.demo import model as demo
from tests.conftest import postgres_schema
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LEDGER
from tollgate_mocks.anthropic_upstream import MockAnthropic
from tollgate_mocks.openai_upstream import MockUpstream

KEY = "upstream-key-for-responses-tests"
NATIVE = "native-model"  # passed through: its provider speaks the Responses API
TRANSLATED = ["demo", "compat-model", "claude-mock"]
MODELS = [*TRANSLATED, NATIVE]
CUT = "cut-model"  # its upstream breaks its stream after a few chunks
TOOL: Any = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
}


@dataclass
class World:
    suite: Suite
    native: MockUpstream
    compat: MockUpstream


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    native = MockUpstream(api_key=KEY).start()
    compat = MockUpstream(api_key=KEY).start()
    claude = MockAnthropic(api_key=KEY).start()
    cut = MockUpstream(api_key=KEY, break_after_chunks=3).start()
    config = (
        "providers:\n"
        "  - {name: demo, kind: demo, models: [demo]}\n"
        f"  - {{name: native, kind: openai, base_url: '{native.base_url}',"
        f" api_key_env: PROVIDER_KEY, models: [{NATIVE}], apis: [responses]}}\n"
        f"  - {{name: compat, kind: openai, base_url: '{compat.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [compat-model]}\n"
        f"  - {{name: claude, kind: anthropic, base_url: '{claude.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [claude-mock]}\n"
        f"  - {{name: cut, kind: openai, base_url: '{cut.base_url}',"
        f" api_key_env: PROVIDER_KEY, models: [{CUT}]}}\n"
        "prices:\n"
    )
    for model in [*MODELS, CUT]:
        config += f"  - {{model: {model}, input: '2', output: '8', currency: USD}}\n"
    home: Path = tmp_path_factory.mktemp(f"responses-{request.param}")
    with ExitStack() as stack:
        for mock in (native, compat, claude, cut):
            stack.callback(mock.stop)
        if request.param == "sqlite":
            url = f"sqlite:///{home / 'tollgate.db'}"
        else:
            url = stack.enter_context(postgres_schema())
        suite = start_suite(home, url, config=config, extra_env={"PROVIDER_KEY": KEY})
        stack.callback(stop_suite, suite)
        yield World(suite, native, compat)


def client(world: World, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=world.suite.base_url, api_key=secret, max_retries=0)


def rows_for(suite: Suite, project: str, count: int) -> list[Any]:
    """The project's ledger rows once there are `count`, and a moment later, so that
    a duplicate would show; in call order."""
    deadline = time.monotonic() + 15
    while True:
        with suite.engine.connect() as conn:
            rows = list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project)))
        if len(rows) >= count or time.monotonic() > deadline:
            time.sleep(0.3)
            with suite.engine.connect() as conn:
                query = select(LEDGER).where(LEDGER.c.project_id == project)
                return sorted(conn.execute(query), key=lambda r: (r.started_at, r.id))
        time.sleep(0.05)


def billed(row: Any) -> tuple[int, int]:
    return row.prompt_tokens, row.completion_tokens


def seen(usage: Any) -> tuple[int, int]:
    return usage.input_tokens, usage.output_tokens


@pytest.mark.parametrize("model", MODELS)
def test_plain_streamed_and_tool_calls_bill_the_usage_the_client_saw(
    world: World, model: str
) -> None:
    project, secret = world.suite.project_with_key(f"responses-{model}", budget="10")
    sdk = client(world, secret)

    plain = sdk.responses.create(
        model=model, input="Which door is this?", instructions="Answer briefly.", user="ann"
    )
    assert plain.output_text == demo.REPLY_PREFIX + "Which door is this?"
    assert plain.status == "completed" and plain.id.startswith("resp_")
    assert plain.usage is not None and plain.usage.total_tokens == sum(seen(plain.usage))

    with sdk.responses.stream(model=model, input="Which door is this?") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        streamed = stream.get_final_response()
    assert "".join(deltas) == streamed.output_text == plain.output_text
    assert streamed.usage is not None

    events = list(sdk.responses.create(model=model, input="Which door is this?", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1].response  # type: ignore[union-attr]
    assert completed.output_text == plain.output_text and completed.usage is not None

    called = sdk.responses.create(
        model=model,
        input="Look up 'door'.",
        tools=[TOOL],
        tool_choice={"type": "function", "name": "lookup"},
    )
    (call,) = [item for item in called.output if item.type == "function_call"]
    assert call.name == "lookup" and isinstance(json.loads(call.arguments), dict)
    assert call.call_id and call.id
    answered = sdk.responses.create(
        model=model,
        input=[
            {"role": "user", "content": "Look up 'door'."},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": "lookup",
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "a way in"},
            {"role": "user", "content": [{"type": "input_text", "text": "And so?"}]},
        ],
        tools=[TOOL],
    )
    assert answered.output_text == demo.REPLY_PREFIX + "And so?"

    usages = [plain.usage, streamed.usage, completed.usage, called.usage, answered.usage]
    rows = rows_for(world.suite, project, len(usages))
    assert len(rows) == len(usages)
    assert [billed(row) for row in rows] == [seen(u) for u in usages]
    assert all(row.status == "ok" for row in rows)
    assert rows[0].end_user == "ann"
    provider = "native" if model == NATIVE else None
    if provider:
        assert {row.provider for row in rows} == {"native"}


def test_a_native_model_passes_through_and_a_translated_one_does_not(world: World) -> None:
    _, secret = world.suite.project_with_key("responses-routing", budget="10")
    sdk = client(world, secret)
    before_native = len(world.native.state.requests)
    sdk.responses.create(model=NATIVE, input="hello there", max_output_tokens=50)
    sent = world.native.state.requests[before_native:]
    assert [body.get("input") for body in sent] == ["hello there"]
    assert sent[0]["max_output_tokens"] == 50 and "messages" not in sent[0]

    before_compat = len(world.compat.state.requests)
    sdk.responses.create(model="compat-model", input="hello there", max_output_tokens=50)
    (chat,) = world.compat.state.requests[before_compat:]
    assert chat["messages"] == [{"role": "user", "content": "hello there"}]
    assert chat["max_completion_tokens"] == 50 and "input" not in chat


def test_json_schema_text_format_becomes_a_response_format(world: World) -> None:
    _, secret = world.suite.project_with_key("responses-json", budget="10")
    sdk = client(world, secret)
    before = len(world.compat.state.requests)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    reply = sdk.responses.create(
        model="compat-model",
        input="Give a number.",
        text={"format": {"type": "json_schema", "name": "num", "schema": schema, "strict": True}},
        reasoning={"effort": "low"},
    )
    assert reply.status == "completed"
    (chat,) = world.compat.state.requests[before:]
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "num", "schema": schema, "strict": True},
    }
    assert chat["reasoning_effort"] == "low"
    assert reply.text is not None and reply.text.format.type == "json_schema"


@pytest.mark.parametrize("model", ["demo", NATIVE])
def test_previous_response_id_continues_a_stored_response_of_the_same_project(
    world: World, model: str
) -> None:
    _, secret = world.suite.project_with_key(f"responses-chain-{model}", budget="10")
    sdk = client(world, secret)
    first = sdk.responses.create(model=model, input="Remember the word lantern.")
    second = sdk.responses.create(
        model=model, input="What was the word?", previous_response_id=first.id
    )
    assert second.output_text == demo.REPLY_PREFIX + "What was the word?"
    assert second.previous_response_id == first.id

    fetched = sdk.responses.retrieve(first.id)
    assert fetched.id == first.id and fetched.output_text == first.output_text
    items = sdk.responses.input_items.list(second.id, order="asc")
    texts = [json.dumps(item.model_dump()) for item in items.data]
    assert any("lantern" in text for text in texts)
    assert any("What was the word?" in text for text in texts)

    unstored = sdk.responses.create(model=model, input="Forget me.", store=False)
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.create(model=model, input="And?", previous_response_id=unstored.id)
    assert refused.value.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(unstored.id)

    sdk.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError):
        sdk.responses.create(model=model, input="And?", previous_response_id=first.id)


def test_the_translated_conversation_reaches_the_upstream_in_order(world: World) -> None:
    _, secret = world.suite.project_with_key("responses-history", budget="10")
    sdk = client(world, secret)
    first = sdk.responses.create(model="compat-model", input="one", instructions="Be brief.")
    before = len(world.compat.state.requests)
    sdk.responses.create(model="compat-model", input="two", previous_response_id=first.id)
    (chat,) = world.compat.state.requests[before:]
    assert chat["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": first.output_text},
        {"role": "user", "content": "two"},
    ]


@pytest.mark.parametrize("model", ["demo", NATIVE])
def test_another_project_can_neither_read_nor_continue_a_stored_response(
    world: World, model: str
) -> None:
    _, owner = world.suite.project_with_key(f"responses-owner-{model}", budget="10")
    _, other = world.suite.project_with_key(f"responses-other-{model}", budget="10")
    mine = client(world, owner).responses.create(model=model, input="a secret: 42")
    theirs = client(world, other)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.input_items.list(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.delete(mine.id)
    before = len(world.native.state.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        theirs.responses.create(model=model, input="and?", previous_response_id=mine.id)
    assert refused.value.code == "previous_response_not_found"
    assert len(world.native.state.requests) == before  # the upstream never saw it
    assert client(world, owner).responses.retrieve(mine.id).id == mine.id


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "demo"}, "input"),
        ({"model": "demo", "input": 7}, "input"),
        ({"model": "demo", "input": [{"type": "web_search_call"}]}, "input[0].type"),
        ({"model": "demo", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "demo", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": "demo", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "demo", "input": "x", "max_output_tokens": 2**40}, "max_output_tokens"),
        ({"model": "demo", "input": "x", "user": "a\u0000b"}, "user"),
        ({"model": "demo", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"model": "demo", "input": "x", "stream": "yes"}, "stream"),
        ({"model": "demo", "input": "x", "previous_response_id": 5}, "previous_response_id"),
        ({"model": NATIVE, "input": 7}, "input"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_costs_nothing(
    world: World, body: dict[str, Any], param: str
) -> None:
    project, secret = world.suite.project_with_key(f"responses-bad-{uuid.uuid4().hex}", budget="10")
    reply = httpx.post(
        f"{world.suite.base_url}/responses",
        json=body,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param
    assert reply.headers["x-request-id"].startswith("req_")
    assert rows_for(world.suite, project, 0) == []


def test_a_lone_surrogate_is_a_400_and_every_answer_has_a_request_id(world: World) -> None:
    _, secret = world.suite.project_with_key("responses-surrogate", budget="10")
    headers = {"Authorization": f"Bearer {secret}", "content-type": "application/json"}
    raw = b'{"model": "demo", "input": "\\ud800"}'
    reply = httpx.post(f"{world.suite.base_url}/responses", content=raw, headers=headers)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "input"
    ok = httpx.post(
        f"{world.suite.base_url}/responses", json={"model": "demo", "input": "hi"}, headers=headers
    )
    assert ok.status_code == 200 and ok.headers["x-request-id"].startswith("req_")
    assert ok.json()["id"] == "resp_" + ok.headers["x-request-id"].removeprefix("req_")
    missing = httpx.get(f"{world.suite.base_url}/responses/resp_nope", headers=headers)
    assert missing.status_code == 404 and missing.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize(("first_model", "then"), [("demo", NATIVE), (NATIVE, "compat-model")])
def test_a_conversation_moves_between_translated_and_passed_through_models(
    world: World, first_model: str, then: str
) -> None:
    _, secret = world.suite.project_with_key(f"responses-move-{uuid.uuid4().hex}", budget="10")
    sdk = client(world, secret)
    with sdk.responses.stream(model=first_model, input="The word is lantern.") as stream:
        first = stream.get_final_response()
    upstream = world.native if then == NATIVE else world.compat
    before = len(upstream.state.requests)
    second = sdk.responses.create(model=then, input="Which word?", previous_response_id=first.id)
    assert second.output_text == demo.REPLY_PREFIX + "Which word?"
    (sent,) = upstream.state.requests[before:]
    if then == NATIVE:  # tollgate translated the first: its history is expanded
        assert "previous_response_id" not in sent
        assert "lantern" in json.dumps(sent["input"]) and sent["input"][-1]["content"] == (
            "Which word?"
        )
    else:  # the upstream answered the first: tollgate kept its conversation
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
        assert "lantern" in sent["messages"][0]["content"]
    third = sdk.responses.create(model=then, input="Again?", previous_response_id=second.id)
    assert third.status == "completed"


def test_a_stream_that_breaks_ends_in_error_and_response_failed_and_bills_what_was_sent(
    world: World,
) -> None:
    project, secret = world.suite.project_with_key("responses-cut", budget="10")
    sdk = client(world, secret)
    stream = sdk.responses.create(
        model=CUT, input="a long enough question to stream several words back", stream=True
    )
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and "response.output_text.delta" in kinds
    assert kinds[-2:] == ["error", "response.failed"]
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.status == "failed" and failed.error is not None
    (row,) = rows_for(world.suite, project, 1)
    assert row.status == "partial" and row.completion_tokens > 0


def test_a_spent_budget_refuses_a_response_and_bills_nothing(world: World) -> None:
    project, secret = world.suite.project_with_key("responses-broke", budget="0")
    with pytest.raises(openai.RateLimitError) as refused:
        client(world, secret).responses.create(model="demo", input="hi")
    assert refused.value.code == "budget_exceeded"
    assert rows_for(world.suite, project, 0) == []


def test_input_items_page_in_either_order(world: World) -> None:
    _, secret = world.suite.project_with_key("responses-pages", budget="10")
    sdk = client(world, secret)
    said = ["one", "two", "three"]
    reply = sdk.responses.create(model="demo", input=[{"role": "user", "content": s} for s in said])
    first = sdk.responses.input_items.list(reply.id, order="asc", limit=2)
    assert first.has_more and len(first.data) == 2
    rest = sdk.responses.input_items.list(reply.id, order="asc", limit=2, after=first.data[-1].id)
    assert not rest.has_more
    pages = [*first.data, *rest.data]
    assert [item.content[0].text for item in pages] == said  # type: ignore[union-attr]
    newest = sdk.responses.input_items.list(reply.id, limit=1)  # desc by default
    assert newest.data[0].id == pages[-1].id
    assert len({item.id for item in pages}) == 3
    every = [item.id for item in sdk.responses.input_items.list(reply.id, order="asc", limit=1)]
    assert every == [item.id for item in pages]  # the SDK pages on with `after`


@pytest.mark.parametrize("limit", ["0", "101", "\u00b2", "\uff11", "9" * 5000, "-1", "x"])
def test_a_bad_input_items_limit_is_a_400(world: World, limit: str) -> None:
    _, secret = world.suite.project_with_key(f"responses-limit-{uuid.uuid4().hex}", budget="10")
    sdk = client(world, secret)
    reply = sdk.responses.create(model="demo", input="hi")
    answer = httpx.get(
        f"{world.suite.base_url}/responses/{reply.id}/input_items",
        params={"limit": limit},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "limit"
