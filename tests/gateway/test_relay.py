"""The chat request path (relay.open_relay) against in-memory Budget and Router stubs:
the body parsed once, what Budget is asked to hold, when the hold is released, and
the gateway's one Caller and its event kinds."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from services.gateway.anthropic_format import openai_request
from services.gateway.caller import caller_proto
from services.gateway.chat_body import parse_chat
from services.gateway.errors import ApiError
from services.gateway.messages import _chat_body
from services.gateway.policy_cache import ProjectRules
from services.gateway.relay import EventKind, kind_of, open_relay
from services.gateway.validation import chat_params
from tests.gateway.relay_fakes import (
    ANSWER,
    CALLER,
    FakeBudget,
    FakeRouter,
    _hello,
    context,
    deps_for,
    open_call,
    usage,
)
from tollgate.v1 import budget_pb2, common_pb2, router_pb2


def test_the_body_is_parsed_once_even_when_the_policy_rewrites_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = json.dumps(
        {"model": "demo", "messages": [{"role": "user", "content": "hi   there\n\n\n\nyou"}]}
    ).encode()
    parses: list[object] = []
    loads = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        if text == raw:
            parses.append(text)
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    router, budget = FakeRouter([ANSWER, usage(9, 1)]), FakeBudget()
    deps = deps_for(router, budget, ProjectRules(max_tokens=50, compact=True))

    relay = asyncio.run(open_relay(deps, context(), parse_chat(raw)))

    assert len(parses) == 1  # the door's parse; steering rewrote the parsed body
    sent = loads(router.requests[0].body)
    assert sent["max_tokens"] == 50
    assert sent["messages"] == [{"role": "user", "content": "hi there\n\nyou"}]
    assert relay.kind is EventKind.RESPONSE
    assert router.requests[0].compacted_tokens > 0


def test_an_unchanged_body_is_sent_byte_for_byte() -> None:
    raw = b'{"model":"demo",  "messages":[{"role":"user","content":"hi"}], "x_extra": 1}'
    router = FakeRouter([ANSWER, usage(9, 1)])
    asyncio.run(open_relay(deps_for(router, FakeBudget()), context(), parse_chat(raw)))
    assert router.requests[0].body == raw


def test_budget_is_asked_to_hold_the_calls_worst_case_for_its_caller() -> None:
    budget = FakeBudget()
    body = {
        "model": "demo",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 7,
        "n": 3,
        "user": "u-42",
    }
    open_call(deps_for(FakeRouter([ANSWER, usage(9, 1)]), budget), body)
    [asked] = budget.authorized
    assert (asked.request_id, asked.model, asked.max_completion_tokens, asked.choices) == (
        "req_1",
        "demo-1",
        7,
        3,
    )
    assert asked.caller == common_pb2.Caller(project_id="proj_1", key_id="key_1", end_user="u-42")
    assert asked.prompt_tokens_estimate > 0


def test_an_upstream_error_before_any_output_releases_the_hold() -> None:
    error = router_pb2.ChatEvent(error=common_pb2.Error(http_status=502, message="down"))
    budget = FakeBudget()
    with pytest.raises(ApiError) as raised:
        open_call(deps_for(FakeRouter([error, usage(0, 0)]), budget), _hello())
    assert raised.value.status == 502
    assert budget.released == ["req_1"]


def test_an_error_after_billed_output_keeps_the_hold_for_its_settlement() -> None:
    error = router_pb2.ChatEvent(error=common_pb2.Error(http_status=504, message="deadline"))
    budget = FakeBudget()
    with pytest.raises(ApiError):
        open_call(deps_for(FakeRouter([error, usage(9, 5)]), budget), _hello())
    assert budget.released == []


def test_a_refused_call_never_reaches_the_router() -> None:
    router = FakeRouter([ANSWER])
    budget = FakeBudget(budget_pb2.AuthorizeResponse.BUDGET_EXCEEDED)
    with pytest.raises(ApiError) as raised:
        open_call(deps_for(router, budget), _hello())
    assert (raised.value.status, raised.value.code) == (429, "budget_exceeded")
    assert router.requests == []


def test_every_router_event_kind_is_named() -> None:
    oneof = router_pb2.ChatEvent.DESCRIPTOR.oneofs_by_name["event"]
    assert {f.name for f in oneof.fields} == {k.value for k in EventKind} - {""}
    assert kind_of(router_pb2.ChatEvent()) is EventKind.NONE


def test_the_caller_becomes_the_contracts_caller_in_one_place() -> None:
    assert caller_proto(CALLER, "u") == common_pb2.Caller(
        project_id="proj_1", key_id="key_1", end_user="u"
    )


def test_the_request_path_imports_no_other_service() -> None:
    """The front doors, the relay and /v1/usage talk to Budget, Router and Metering
    over their contracts only."""
    modules = ["chat", "messages", "count_tokens", "embeddings", "models", "usage", "relay"]
    code = (
        "import sys\n"
        + "".join(f"import services.gateway.{m}\n" for m in modules)
        + "print(sorted(m for m in sys.modules if m.startswith('services.')"
        " and not m.startswith('services.gateway')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_compaction_never_puts_back_cache_marks_a_non_anthropic_route_must_not_get() -> None:
    """/v1/messages drops `cache_control` for an OpenAI-compatible upstream (strict
    servers refuse unknown fields); compacting the prompt must not bring it back."""
    given = {
        "model": "demo",
        "max_tokens": 16,
        "system": [{"type": "text", "text": "Be   brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "hi\n\n\n  there",
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            }
        ],
    }
    translated = openai_request(given)
    assert "cache_control" in json.dumps(translated)
    body = _chat_body(translated, chat_params(translated), keep_cache_marks=False)
    router = FakeRouter([ANSWER, usage(9, 1)])
    deps = deps_for(router, FakeBudget(), ProjectRules(compact=True))
    asyncio.run(open_relay(deps, context(), body))
    sent = router.requests[0].body
    assert router.requests[0].compacted_tokens > 0
    assert b"cache_control" not in sent
    assert json.loads(sent)["messages"][-1]["content"][0]["text"] == "hi\n\nthere"
