"""The Router service end to end: real gRPC, the mock upstream over real HTTP, and a
fake Metering that collects what the router records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.router.providers.demo import model as demo
from tollgate.tokens import count_chat_prompt, count_text
from tollgate.v1 import common_pb2, metering_pb2, router_pb2
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import (
    UPSTREAM_KEY,
    FakeMetering,
    make_settings,
    openai_provider,
    run,
    running_router,
    spooled,
)

MESSAGES = [{"role": "user", "content": "Route me, please."}]
REPLY = demo.REPLY_PREFIX + "Route me, please."
OK = metering_pb2.CALL_STATUS_OK
FAILED = metering_pb2.CALL_STATUS_FAILED
PARTIAL = metering_pb2.CALL_STATUS_PARTIAL
PROVIDER = common_pb2.USAGE_SOURCE_PROVIDER
ESTIMATED = common_pb2.USAGE_SOURCE_ESTIMATED

Upstreams = Callable[..., MockUpstream]


def _settings(tmp_path: Path, metering: FakeMetering, upstream: MockUpstream, **kw: Any) -> Any:
    aliases = kw.pop("aliases", None)
    models = kw.pop("models", ["gpt-test"])
    return make_settings(
        tmp_path, metering.addr, [openai_provider(upstream, models, **kw)], aliases=aliases
    )


def _expected_usage(content: str, messages: list[dict[str, Any]] = MESSAGES) -> common_pb2.Usage:
    return common_pb2.Usage(
        prompt_tokens=count_chat_prompt(messages, "demo"),
        completion_tokens=count_text(content, "demo"),
    )


def test_non_streaming(tmp_path: Path, metering: FakeMetering, upstreams: Upstreams) -> None:
    upstream = upstreams(api_key=UPSTREAM_KEY)

    async def scenario() -> None:
        async with running_router(_settings(tmp_path, metering, upstream)) as router:
            request = router.request({"model": "gpt-test", "messages": MESSAGES})
            events = await router.call(request)
            assert not events.errors and not events.chunks
            (response,) = events.responses
            assert response["choices"][0]["message"]["content"] == REPLY
            record = await metering.one(request.request_id)
            assert record.status == OK and record.http_status == 200
            assert record.usage_source == PROVIDER
            assert record.usage == _expected_usage(REPLY)
            assert response["usage"]["prompt_tokens"] == record.usage.prompt_tokens
            assert (record.model_requested, record.model_served) == ("gpt-test", "gpt-test")
            assert record.provider == "mock" and record.caller == request.caller
            assert record.started_at_unix_ms == request.started_at_unix_ms
            assert 0 <= record.latency_ms < 10_000 and not record.stream
        metering.assert_each_once()
        assert spooled(router.settings) == []

    run(scenario())


@pytest.mark.parametrize("include_usage", [True, False])
def test_streaming(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams, include_usage: bool
) -> None:
    upstream = upstreams(api_key=UPSTREAM_KEY)
    options = {"include_usage": include_usage, "x_future_option": 7}

    async def scenario() -> None:
        async with running_router(_settings(tmp_path, metering, upstream)) as router:
            body = {"model": "gpt-test", "messages": MESSAGES, "stream": True}
            body["stream_options"] = options
            request = router.request(body)
            events = await router.call(request)
            assert not events.errors and not events.responses
            assert events.content == REPLY
            usage_chunks = [c for c in events.chunks if "usage" in c]
            if include_usage:
                assert usage_chunks == [events.chunks[-1]]
                assert events.chunks[-1]["choices"] == []
                assert events.chunks[-1]["usage"]["completion_tokens"] == count_text(REPLY, "demo")
            else:
                assert usage_chunks == []
                assert events.chunks[-1]["choices"][0]["finish_reason"] == "stop"
            # The upstream is always asked for usage; the client's other options stay.
            sent = upstream.app.state.requests[-1]
            assert sent["stream_options"] == {"include_usage": True, "x_future_option": 7}
            record = await metering.one(request.request_id)
            assert (record.status, record.usage_source) == (OK, PROVIDER)
            assert record.usage == _expected_usage(REPLY) and record.stream
        metering.assert_each_once()

    run(scenario())


def test_unknown_fields_reach_the_upstream_unchanged(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams(api_key=UPSTREAM_KEY)
    body = {
        "model": "fast",
        "messages": MESSAGES,
        "temperature": 0.25,
        "user": "end-user-7",
        "seed": 12345678901234,
        "metadata": {"team": "search", "ünïcode": "✓"},
        "x_vendor_extension": {"nested": [1, 2.5, None, True, "s"]},
        "logit_bias": {"50256": -100},
    }

    async def scenario() -> None:
        settings = _settings(
            tmp_path, metering, upstream, models=["big-model"], aliases={"fast": "big-model"}
        )
        async with running_router(settings) as router:
            request = router.request(body)
            events = await router.call(request)
            assert not events.errors
            sent = upstream.app.state.requests[-1]
            assert sent == {**body, "model": "big-model"}
            headers = upstream.state.headers[-1]
            assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
            record = await metering.one(request.request_id)
            assert (record.model_requested, record.model_served) == ("fast", "big-model")
            models = await router.stub.ListModels(router_pb2.ListModelsRequest())
            assert [(m.id, m.served_by, m.provider) for m in models.models] == [
                ("big-model", "big-model", "mock"),
                ("fast", "big-model", "mock"),
            ]
        metering.assert_each_once()

    run(scenario())


def test_unknown_model_is_a_404_and_records_nothing(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams()

    async def scenario() -> None:
        settings = _settings(tmp_path, metering, upstream)
        async with running_router(settings) as router:
            events = await router.call(router.request({"model": "nope", "messages": MESSAGES}))
            (error,) = events.errors
            assert (error.http_status, error.type, error.code, error.param) == (
                404,
                "invalid_request_error",
                "model_not_found",
                "model",
            )
            assert "`nope`" in error.message
            assert spooled(settings) == [] and router.router.recorder.pending == 0
        assert upstream.app.state.requests == [] and metering.records == []

    run(scenario())


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failure_is_a_502_and_costs_nothing(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams, stream: bool
) -> None:
    upstream = upstreams(fail_status=500)

    async def scenario() -> None:
        async with running_router(_settings(tmp_path, metering, upstream)) as router:
            body = {"model": "gpt-test", "messages": MESSAGES, "stream": stream}
            request = router.request(body, prompt_tokens_estimate=99)
            events = await router.call(request)
            assert not events.chunks and not events.responses
            (error,) = events.errors
            assert (error.http_status, error.code) == (502, "upstream_error")
            record = await metering.one(request.request_id)
            assert (record.status, record.http_status) == (FAILED, 502)
            assert record.usage == common_pb2.Usage()
        metering.assert_each_once()

    run(scenario())


@pytest.mark.parametrize(
    ("mock_options", "status", "code"),
    [
        ({"api_key": "sk-the-right-key"}, 502, "upstream_auth_failed"),
        ({"fail_status": 403}, 502, "upstream_auth_failed"),
        ({"fail_status": 429}, 429, "upstream_rate_limited"),
        ({"fail_status": 400}, 400, ""),
        ({"fail_status": 503}, 502, "upstream_error"),
    ],
)
def test_upstream_error_mapping(
    tmp_path: Path,
    metering: FakeMetering,
    upstreams: Upstreams,
    mock_options: dict[str, Any],
    status: int,
    code: str,
) -> None:
    upstream = upstreams(**mock_options)

    async def scenario() -> None:
        async with running_router(_settings(tmp_path, metering, upstream)) as router:
            request = router.request({"model": "gpt-test", "messages": MESSAGES})
            (error,) = (await router.call(request)).errors
            assert (error.http_status, error.code) == (status, code)
            if status == 400:
                assert error.type == "invalid_request_error"
                assert error.message == "The mock upstream fails with 400."
            assert UPSTREAM_KEY not in str(error) and "Incorrect API key" not in error.message
            record = await metering.one(request.request_id)
            assert (record.status, record.http_status) == (FAILED, status)
        metering.assert_each_once()

    run(scenario())


@pytest.mark.parametrize(("stream", "include_usage"), [(False, False), (True, False), (True, True)])
def test_missing_upstream_usage_is_counted(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams, stream: bool, include_usage: bool
) -> None:
    upstream = upstreams(omit_usage=True)

    async def scenario() -> None:
        async with running_router(_settings(tmp_path, metering, upstream)) as router:
            body: dict[str, Any] = {"model": "gpt-test", "messages": MESSAGES, "stream": stream}
            if include_usage:
                body["stream_options"] = {"include_usage": True}
            request = router.request(body, prompt_tokens_estimate=42)
            events = await router.call(request)
            content = (
                events.content
                if stream
                else events.responses[0]["choices"][0]["message"]["content"]
            )
            assert content == REPLY
            record = await metering.one(request.request_id)
            assert (record.status, record.usage_source) == (OK, ESTIMATED)
            assert record.usage == common_pb2.Usage(
                prompt_tokens=42, completion_tokens=count_text(content, "gpt-test")
            )
            # A client that asked for usage gets the estimate it is billed, last;
            # one that did not gets no usage chunk.
            usage_chunks = [c for c in events.chunks if "usage" in c]
            if include_usage:
                assert usage_chunks == [events.chunks[-1]]
                assert events.chunks[-1]["choices"] == []
                assert events.chunks[-1]["usage"] == {
                    "prompt_tokens": 42,
                    "completion_tokens": record.usage.completion_tokens,
                    "total_tokens": 42 + record.usage.completion_tokens,
                }
            else:
                assert usage_chunks == []
            (usage,) = events.usages
            assert usage == record.usage  # the gateway's usage event is unchanged
        metering.assert_each_once()

    run(scenario())


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_are_counted_when_usage_is_missing(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams, stream: bool
) -> None:
    upstream = upstreams(omit_usage=True)
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {}}}]
    body = {"model": "gpt-test", "messages": MESSAGES, "stream": stream, "tools": tools}
    body["tool_choice"] = "required"

    async def scenario() -> None:
        async with running_router(_settings(tmp_path, metering, upstream)) as router:
            request = router.request(body)  # no prompt estimate: the router counts it
            events = await router.call(request)
            assert not events.errors
            record = await metering.one(request.request_id)
            assert record.usage_source == ESTIMATED
            # What the demo upstream would have reported, had it not omitted usage.
            usage = demo.completion(body, "gpt-test")["usage"]
            assert usage["completion_tokens"] == 3  # "lookup_order" and "{}"
            assert record.usage == common_pb2.Usage(
                prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"]
            )
        metering.assert_each_once()

    run(scenario())
