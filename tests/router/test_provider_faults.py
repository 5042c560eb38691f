"""Anthropic and Gemini upstreams that fail, through the router: each call still ends
in exactly one usage record, with the right status, source and counts.

The mocks fail the way a provider does (`tollgate_mocks.faults`): an HTTP error in the
provider's own format, a hang, a stream cut mid-way, no usage block.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.router.providers.anthropic import AnthropicProvider
from services.router.providers.base import Provider
from services.router.providers.demo import model as demo
from services.router.providers.gemini import GeminiProvider
from services.router.server import RouterServicer
from tests.router.recorders import ListRecorder
from tollgate.config import ProviderConfig, Route
from tollgate.tokens import count_text
from tollgate.v1 import common_pb2, metering_pb2, router_pb2
from tollgate_mocks.anthropic_upstream import MockAnthropic
from tollgate_mocks.gemini_upstream import MockGemini
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import Events, collect, run, scripted_client

KEY = "sk-faults-key-0000"
LONG = "word " * 30  # the demo model echoes it: a reply of about 35 tokens
MESSAGES = [{"role": "user", "content": LONG}]
PROMPT_ESTIMATE = 41
OK = metering_pb2.CALL_STATUS_OK
FAILED = metering_pb2.CALL_STATUS_FAILED
PARTIAL = metering_pb2.CALL_STATUS_PARTIAL
ESTIMATED = common_pb2.USAGE_SOURCE_ESTIMATED


@dataclass(frozen=True)
class Kind:
    name: str
    model: str
    mock: Callable[..., MockUpstream]
    provider: Callable[..., Provider]  # (config, client=None)
    events_before_text: int  # stream events the mock sends before the first text


KINDS = [
    Kind("anthropic", "claude-test", MockAnthropic, AnthropicProvider, 3),
    Kind("gemini", "gemini-test", MockGemini, GeminiProvider, 0),
]


@dataclass
class Outcome:
    events: Events
    record: metering_pb2.UsageRecord

    @property
    def text(self) -> str:
        if self.events.responses:
            return str(self.events.responses[0]["choices"][0]["message"]["content"])
        return self.events.content


@pytest.fixture(params=KINDS, ids=lambda kind: kind.name)
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def mocks() -> Iterator[dict[tuple[str, str], MockUpstream]]:
    """The mocks started so far, by kind and failure options, shared by the tests."""
    started: dict[tuple[str, str], MockUpstream] = {}
    yield started
    for mock in started.values():
        mock.stop()


@pytest.fixture
def serve(kind: Kind, mocks: dict[tuple[str, str], MockUpstream]) -> Callable[..., Outcome]:
    """Call the router once against a mock with the given failure options."""

    def call(
        stream: bool, *, timeout: float = 5.0, body: dict[str, Any] | None = None, **faults: Any
    ) -> Outcome:
        key = (kind.name, json.dumps(faults, sort_keys=True))
        if key not in mocks:
            mocks[key] = kind.mock(api_key=KEY, **faults).start()
        config = ProviderConfig("up", kind.name, (kind.model,), mocks[key].base_url, KEY, timeout)
        return run(_call(kind, config, stream, body or {"messages": MESSAGES}))

    return call


async def _call(kind: Kind, config: ProviderConfig, stream: bool, body: dict[str, Any]) -> Outcome:
    provider = kind.provider(config)
    recorder = ListRecorder()
    servicer = RouterServicer({"m": Route("m", kind.model, "up")}, {"up": provider}, recorder)
    request = router_pb2.ChatRequest(
        request_id="req-fault",
        model="m",
        stream=stream,
        include_usage=stream,
        body=json.dumps({"model": "m", **body, "stream": stream}).encode(),
        prompt_tokens_estimate=PROMPT_ESTIMATE,
    )
    try:
        events = collect([e async for e in servicer.ChatCompletion(request, None)])  # type: ignore[arg-type]
    finally:
        await provider.aclose()
    (record,) = recorder.records
    return Outcome(events, record)


def _estimated(text: str, model: str) -> common_pb2.Usage:
    return common_pb2.Usage(
        prompt_tokens=PROMPT_ESTIMATE, completion_tokens=count_text(text, model)
    )


FULL_REPLY = demo.REPLY_PREFIX + LONG


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, (400, "invalid_request_error", "")),
        (429, (429, "rate_limit_error", "upstream_rate_limited")),
        (500, (502, "server_error", "upstream_error")),
        (503, (502, "server_error", "upstream_error")),
    ],
)
def test_an_error_before_any_output_is_a_failed_record_that_costs_nothing(
    serve: Callable[..., Outcome], stream: bool, status: int, expected: tuple[int, str, str]
) -> None:
    outcome = serve(stream, fail_status=status)
    assert not outcome.events.chunks and not outcome.events.responses
    (error,) = outcome.events.errors
    assert (error.http_status, error.type, error.code) == expected
    if status == 400:  # a client error passes on the provider's own message
        assert "fails with 400" in error.message
    record = outcome.record
    assert (record.status, record.http_status) == (FAILED, expected[0])
    assert record.usage == common_pb2.Usage()


def test_anthropic_overloaded_is_a_rate_limit() -> None:
    with MockAnthropic(api_key=KEY, fail_status=529) as mock:
        config = ProviderConfig("up", "anthropic", ("claude-test",), mock.base_url, KEY, 5.0)
        outcome = run(_call(KINDS[0], config, True, {"messages": MESSAGES}))
    (error,) = outcome.events.errors
    assert (error.http_status, error.code) == (429, "upstream_rate_limited")
    assert outcome.record.status == FAILED and outcome.record.usage == common_pb2.Usage()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_missing_usage_is_estimated_from_what_was_generated(
    serve: Callable[..., Outcome], kind: Kind, stream: bool
) -> None:
    outcome = serve(stream, omit_usage=True)
    assert not outcome.events.errors and outcome.text == FULL_REPLY
    record = outcome.record
    assert (record.status, record.usage_source) == (OK, ESTIMATED)
    assert record.usage == _estimated(FULL_REPLY, kind.model)
    if stream:  # the client asked for usage: it gets what it is billed, last
        assert_estimated_usage_chunk_last(outcome.events.chunks, record.usage)


def assert_estimated_usage_chunk_last(
    chunks: list[dict[str, Any]], billed: common_pb2.Usage
) -> None:
    *text_chunks, last = chunks
    assert all("usage" not in chunk for chunk in text_chunks)
    assert last["choices"] == [] and last["object"] == "chat.completion.chunk"
    assert last["id"] == text_chunks[0]["id"] and last["model"] == text_chunks[0]["model"]
    assert last["usage"] == {
        "prompt_tokens": billed.prompt_tokens,
        "completion_tokens": billed.completion_tokens,
        "total_tokens": billed.prompt_tokens + billed.completion_tokens,
    }


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_missing_usage_of_a_tool_call_counts_its_name_and_arguments(
    serve: Callable[..., Outcome], kind: Kind, stream: bool
) -> None:
    tool = {"type": "function", "function": {"name": "lookup_weather", "parameters": {}}}
    body = {"messages": MESSAGES, "tools": [tool], "tool_choice": "required"}
    outcome = serve(stream, omit_usage=True, body=body)
    assert not outcome.events.errors
    record = outcome.record
    assert (record.status, record.usage_source) == (OK, ESTIMATED)
    tokens = count_text("lookup_weather", kind.model) + count_text("{}", kind.model)
    assert record.usage == common_pb2.Usage(prompt_tokens=PROMPT_ESTIMATE, completion_tokens=tokens)


def test_a_stream_cut_mid_way_is_partial_and_estimated(
    serve: Callable[..., Outcome], kind: Kind
) -> None:
    texts = 5
    outcome = serve(True, break_after_chunks=kind.events_before_text + texts)
    (error,) = outcome.events.errors
    assert (error.http_status, error.code) == (502, "upstream_error")
    got = outcome.events.content
    assert got and FULL_REPLY.startswith(got) and got != FULL_REPLY
    assert (
        sum(1 for c in outcome.events.chunks for ch in c["choices"] if ch["delta"].get("content"))
        == texts
    )
    record = outcome.record
    assert (record.status, record.usage_source) == (PARTIAL, ESTIMATED)
    assert record.usage == _estimated(got, kind.model)
    assert_estimated_usage_chunk_last(outcome.events.chunks, record.usage)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_hanging_upstream_is_a_timeout_and_costs_nothing(
    serve: Callable[..., Outcome], stream: bool
) -> None:
    outcome = serve(stream, timeout=0.3, latency_ms=2000)
    (error,) = outcome.events.errors
    assert (error.http_status, error.type, error.code) == (504, "server_error", "upstream_timeout")
    assert error.message == "The upstream provider timed out."
    assert (outcome.record.status, outcome.record.http_status) == (FAILED, 504)
    assert outcome.record.usage == common_pb2.Usage()


def test_a_stream_that_stalls_mid_way_is_partial_and_estimated(
    serve: Callable[..., Outcome], kind: Kind
) -> None:
    # The first events come at once; after that each waits longer than the timeout.
    outcome = serve(True, timeout=0.3, token_delay_ms=1000)
    (error,) = outcome.events.errors
    assert error.http_status == 502 and "timed out" in error.message
    record = outcome.record
    assert (record.status, record.usage_source) == (PARTIAL, ESTIMATED)
    assert record.usage == _estimated(outcome.events.content, kind.model)


# --- an upstream that ends its stream cleanly but early ----------------------------------


GEMINI_EARLY_END = (
    b'data: {"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"index":0}],'
    b'"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7}}\r\n\r\n'
)
ANTHROPIC_EARLY_END = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
    b'"type":"message","role":"assistant","model":"claude-test","content":[],'
    b'"usage":{"input_tokens":7,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Hello"}}\n\n'
)


@pytest.mark.parametrize(
    ("kind", "body"),
    [(KINDS[0], ANTHROPIC_EARLY_END), (KINDS[1], GEMINI_EARLY_END)],
    ids=["anthropic", "gemini"],
)
def test_a_stream_ended_before_the_final_event_is_not_billed_as_complete(
    kind: Kind, body: bytes
) -> None:
    """The partial usage of the early events (input only) is no bill: it is estimated."""
    config = ProviderConfig("up", kind.name, (kind.model,), "http://upstream/v1", KEY, 5.0)

    async def go() -> Outcome:
        client = scripted_client(lambda request: httpx.Response(200, content=body))
        provider = kind.provider(config, client=client)
        recorder = ListRecorder()
        routes = {"m": Route("m", kind.model, "up")}
        servicer = RouterServicer(routes, {"up": provider}, recorder)
        request = router_pb2.ChatRequest(
            request_id="r",
            model="m",
            stream=True,
            body=json.dumps({"messages": MESSAGES, "stream": True}).encode(),
            prompt_tokens_estimate=PROMPT_ESTIMATE,
        )
        events = collect([e async for e in servicer.ChatCompletion(request, None)])  # type: ignore[arg-type]
        await provider.aclose()
        (record,) = recorder.records
        return Outcome(events, record)

    outcome = run(go())
    (error,) = outcome.events.errors
    assert (error.http_status, error.code) == (502, "upstream_error")
    assert outcome.events.content == "Hello"
    record = outcome.record
    assert (record.status, record.usage_source) == (PARTIAL, ESTIMATED)
    assert record.usage == _estimated("Hello", kind.model)
