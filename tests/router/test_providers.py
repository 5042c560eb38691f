"""The OpenAI-compatible provider against awkward upstreams, and the servicer's
handling of what providers report."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx
import pytest

from services.router.providers.base import (
    ChatCall,
    Completion,
    StreamChunk,
    UpstreamError,
    usage_from,
)
from services.router.providers.openai import OpenAIProvider
from services.router.server import RouterServicer
from tests.router.recorders import ListRecorder
from tollgate.config import ProviderConfig, Route
from tollgate.v1 import common_pb2, metering_pb2, router_pb2
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import collect, free_port, run, scripted_client

CALL = ChatCall(
    "req-1", "served", {"model": "alias", "messages": [{"role": "user", "content": "hi"}]}
)


def _config(base_url: str, timeout: float = 5.0) -> ProviderConfig:
    return ProviderConfig("up", "openai", ("served",), base_url, "sk-x", timeout)


async def _error_of(provider: OpenAIProvider, stream: bool) -> UpstreamError:
    try:
        if stream:
            async for _ in provider.stream(CALL):
                pass
        else:
            await provider.complete(CALL)
    except UpstreamError as exc:
        return exc
    finally:
        await provider.aclose()
    raise AssertionError("no UpstreamError")


@pytest.mark.parametrize("stream", [False, True])
def test_unreachable_upstream(stream: bool) -> None:
    provider = OpenAIProvider(_config(f"http://127.0.0.1:{free_port()}/v1"))
    error = run(_error_of(provider, stream))
    assert (error.http_status, error.code) == (502, "upstream_unavailable")


@pytest.mark.parametrize("stream", [False, True])
def test_slow_upstream_times_out(stream: bool, upstreams: Callable[..., MockUpstream]) -> None:
    upstream = upstreams(latency_ms=400)
    provider = OpenAIProvider(_config(upstream.base_url, timeout=0.1))
    error = run(_error_of(provider, stream))
    assert (error.http_status, error.code) == (504, "upstream_timeout")


def _sse_provider(body: bytes, status: int = 200) -> tuple[OpenAIProvider, list[bytes]]:
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(status, content=body, headers={"content-type": "text/event-stream"})

    return OpenAIProvider(_config("http://upstream/v1"), client=scripted_client(handler)), sent


async def _chunks(provider: OpenAIProvider) -> list[StreamChunk]:
    try:
        return [chunk async for chunk in provider.stream(CALL)]
    finally:
        await provider.aclose()


def test_sse_quirks_are_parsed() -> None:
    a = {"choices": [{"index": 0, "delta": {"content": "a"}}], "usage": None}
    b = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    body = (
        b": keep-alive comment\r\n\r\n"
        b"event: message\r\ndata: " + json.dumps(a).encode() + b"\r\n\r\n"
        b'data: {"choices": [],\ndata: "usage": {"prompt_tokens": 3,\n'
        b'data: "completion_tokens": 1}}\n\n'
        b"data:" + json.dumps(b).encode() + b"\n\n"
    )  # and no [DONE]: the stream simply ends
    provider, sent = _sse_provider(body)
    chunks = run(_chunks(provider))
    assert [c.data for c in chunks] == [a, b, b]
    assert chunks[0].usage is None
    assert chunks[2].usage == common_pb2.Usage(prompt_tokens=3, completion_tokens=1)
    assert chunks[0].raw == json.dumps(a).encode()
    upstream_body = json.loads(sent[0])
    assert upstream_body["model"] == "served" and upstream_body["stream"] is True
    assert upstream_body["stream_options"] == {"include_usage": True}
    assert CALL.body["model"] == "alias" and "stream" not in CALL.body  # not mutated


def test_an_error_event_mid_stream_is_an_upstream_error() -> None:
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'
        b'data: {"error":{"message":"boom"}}\n\n'
    )
    provider, _ = _sse_provider(body)
    got: list[StreamChunk] = []

    async def consume() -> None:
        try:
            async for chunk in provider.stream(CALL):
                got.append(chunk)
        finally:
            await provider.aclose()

    with pytest.raises(UpstreamError) as raised:
        run(consume())
    assert len(got) == 1 and raised.value.code == "upstream_error"


def test_error_status_with_invalid_json_body() -> None:
    provider, _ = _sse_provider(b"<html>bad gateway</html>", status=422)
    error = run(_error_of(provider, stream=True))
    assert (error.http_status, error.type) == (422, "invalid_request_error")
    assert "422" in error.message


class ScriptedProvider:
    """A provider whose stream yields given chunks, then optionally raises."""

    name = "scripted"

    def __init__(self, chunks: list[dict[str, Any]], fail: Exception | None = None) -> None:
        self._chunks = chunks
        self._fail = fail

    async def complete(self, call: ChatCall) -> Completion:
        raise self._fail or RuntimeError("no")

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        for data in self._chunks:
            yield StreamChunk(json.dumps(data).encode(), data, usage_from(data))
        if self._fail:
            raise self._fail

    async def aclose(self) -> None:
        return None


def _serve(provider: ScriptedProvider, stream: bool) -> tuple[Any, ListRecorder]:
    recorder = ListRecorder()
    servicer = RouterServicer({"m": Route("m", "m", "scripted")}, {"scripted": provider}, recorder)
    request = router_pb2.ChatRequest(
        request_id="", model="m", stream=stream, include_usage=True, body=b'{"model":"m"}'
    )

    async def call() -> Any:
        return collect([event async for event in servicer.ChatCompletion(request, None)])  # type: ignore[arg-type]

    return run(call()), recorder


def test_the_last_usage_seen_wins_never_a_sum() -> None:
    def usage(p: int, c: int) -> dict[str, Any]:
        return {
            "prompt_tokens": p,
            "completion_tokens": c,
            "prompt_tokens_details": {"cached_tokens": 2},
        }

    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": "a"}}], "usage": usage(10, 1)},
        {"choices": [{"index": 0, "delta": {"content": "b"}}], "usage": usage(10, 2)},
        {"choices": [], "usage": usage(10, 2)},
    ]
    events, recorder = _serve(ScriptedProvider(chunks), stream=True)
    assert len(events.chunks) == 3 and not events.errors
    (record,) = recorder.records
    assert record.request_id.startswith("req_")  # one is made up when the caller sent none
    assert record.usage == common_pb2.Usage(prompt_tokens=10, completion_tokens=2, cached_tokens=2)
    assert record.usage_source == common_pb2.USAGE_SOURCE_PROVIDER


@pytest.mark.parametrize("stream", [False, True])
def test_an_unexpected_exception_is_a_generic_502(stream: bool) -> None:
    events, recorder = _serve(ScriptedProvider([], RuntimeError("secret detail")), stream)
    (error,) = events.errors
    assert (error.http_status, error.code) == (502, "upstream_error")
    assert "secret detail" not in error.message
    (record,) = recorder.records
    assert record.status == metering_pb2.CALL_STATUS_FAILED and record.usage == common_pb2.Usage()


def test_an_exception_after_output_is_partial() -> None:
    chunks = [{"choices": [{"index": 0, "delta": {"content": "hello there"}}]}]
    events, recorder = _serve(ScriptedProvider(chunks, RuntimeError("x")), stream=True)
    assert events.errors[0].code == "upstream_error"
    (record,) = recorder.records
    assert record.status == metering_pb2.CALL_STATUS_PARTIAL
    assert record.usage.completion_tokens == 2  # "hello there"
    # The client asked for usage: before the error, the estimate it is billed.
    text, usage = events.chunks
    assert text == chunks[0] and usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 2
