"""The Gemini provider over a fake transport: recorded streams translated back with
their usage, and Gemini's errors, timeouts and unreachable hosts mapped."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.router.providers.base import ChatCall, UpstreamError
from services.router.providers.gemini import GeminiProvider
from tollgate.v1 import common_pb2

from .gemini_helpers import (
    EXPECTED_USAGE,
    KEY,
    MODEL,
    USAGE,
    WEATHER_TOOL,
    hi,
    provider_config,
    stream_chunks,
)
from .harness import free_port, run, scripted_client


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)


def _fake(status: int, content: bytes) -> tuple[GeminiProvider, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status, content=content)

    client = scripted_client(handler)
    return GeminiProvider(provider_config("https://gm.test/v1beta"), client=client), sent


def _text_event(text: str, usage: dict[str, Any], **candidate: Any) -> dict[str, Any]:
    content = {"role": "model", "parts": [{"text": text}]}
    return {"candidates": [{"content": content, "index": 0, **candidate}], "usageMetadata": usage}


def test_recorded_stream() -> None:
    partial = {"promptTokenCount": 120, "totalTokenCount": 120}
    recorded = _sse(
        _text_event("Hel", partial),
        _text_event("lo", {**partial, "thoughtsTokenCount": 50}),
        _text_event("!", USAGE, finishReason="STOP"),
    )
    provider, sent = _fake(200, recorded)
    chunks = run(stream_chunks(provider, hi(stream=True)))

    assert (
        str(sent[0].url) == f"https://gm.test/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    )
    assert sent[0].headers["x-goog-api-key"] == KEY
    deltas = [c.data["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {"content": "!"},
        {},
    ]
    assert [c.data["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 4 + ["stop"]
    assert len({c.data["id"] for c in chunks}) == 1
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.data["choices"] == [] and last.data["usage"] == EXPECTED_USAGE
    assert last.usage == common_pb2.Usage(
        prompt_tokens=120, completion_tokens=80, cached_tokens=100, reasoning_tokens=50
    )
    for chunk in chunks:
        assert chunk.raw == json.dumps(chunk.data, separators=(",", ":")).encode()


def test_recorded_stream_with_tool_calls() -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
    event = {
        "candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP"}],
        "usageMetadata": USAGE,
    }
    provider, _ = _fake(200, _sse(event))
    chunks = run(stream_chunks(provider, hi(stream=True, tools=[WEATHER_TOOL])))
    tool_calls = chunks[1].data["choices"][0]["delta"]["tool_calls"]
    assert tool_calls == [
        {
            "index": 0,
            "id": tool_calls[0]["id"],
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
        }
    ]
    assert chunks[2].data["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[3].usage is not None


def _error(status: int, message: str, reason: str = "") -> bytes:
    error: dict[str, Any] = {"code": status, "message": message, "status": "X"}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return json.dumps({"error": error}).encode()


async def _error_of(provider: GeminiProvider, call: ChatCall, stream: bool) -> UpstreamError:
    try:
        if stream:
            async for _ in provider.stream(call):
                pass
        else:
            await provider.complete(call)
    except UpstreamError as exc:
        return exc
    finally:
        await provider.aclose()
    raise AssertionError("no UpstreamError")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, _error(400, "Bad schema."), (400, "invalid_request_error", "", "Bad schema.")),
        (404, _error(404, "No such model."), (404, "invalid_request_error", "", "No such model.")),
        (
            400,
            _error(400, f"Key {KEY} bad", "API_KEY_INVALID"),
            (502, "server_error", "upstream_auth_failed", None),
        ),
        (
            403,
            _error(403, f"Key {KEY} denied"),
            (502, "server_error", "upstream_auth_failed", None),
        ),
        (429, _error(429, "Quota."), (429, "rate_limit_error", "upstream_rate_limited", None)),
        (500, b"oops", (502, "server_error", "upstream_error", None)),
        (
            200,
            json.dumps({"promptFeedback": {"blockReason": "OTHER"}}).encode(),
            (400, "invalid_request_error", "content_filter", None),
        ),
    ],
)
def test_error_mapping(
    stream: bool, status: int, body: bytes, expected: tuple[int, str, str, str | None]
) -> None:
    if stream and status == 200:
        body = b"data: " + body + b"\n\n"
    provider, _ = _fake(status, body)
    error = run(_error_of(provider, hi(), stream))
    assert (error.http_status, error.type, error.code) == expected[:3]
    if expected[3] is not None:
        assert error.message == expected[3]
    assert KEY not in error.message


@pytest.mark.parametrize("stream", [False, True])
def test_unreachable_and_slow_upstreams(stream: bool) -> None:
    provider = GeminiProvider(provider_config(f"http://127.0.0.1:{free_port()}/v1beta"))
    error = run(_error_of(provider, hi(), stream))
    assert (error.http_status, error.code) == (502, "upstream_unavailable")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider = GeminiProvider(
        provider_config("https://gm.test/v1beta"), client=scripted_client(slow)
    )
    error = run(_error_of(provider, hi(), stream))
    assert (error.http_status, error.code) == (504, "upstream_timeout")
