"""Shared parts for the Anthropic provider tests: the key and model, a plain request,
and the provider driven over a scripted transport, with Anthropic's SSE framing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from services.router.providers.anthropic import AnthropicProvider
from services.router.providers.base import ChatCall, Completion, StreamChunk, UpstreamError
from tollgate.config import ProviderConfig

from .harness import scripted_client

KEY = "sk-ant-secret-1234"
MODEL = "claude-test"
HELLO = {"model": "alias", "messages": [{"role": "user", "content": "hi there"}]}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def provider_config(base_url: str, timeout: float = 5.0) -> ProviderConfig:
    return ProviderConfig("anth", "anthropic", (MODEL,), base_url, KEY, timeout)


def chat_call(body: dict[str, Any]) -> ChatCall:
    return ChatCall("req-1", MODEL, body)


def scripted(handler: Callable[[httpx.Request], httpx.Response]) -> AnthropicProvider:
    return AnthropicProvider(provider_config("http://upstream/v1"), client=scripted_client(handler))


def replying(
    status: int, body: bytes, sent: list[httpx.Request] | None = None
) -> AnthropicProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(request)
        return httpx.Response(status, content=body)

    return scripted(handler)


async def complete(provider: AnthropicProvider, call: ChatCall) -> Completion:
    try:
        return await provider.complete(call)
    finally:
        await provider.aclose()


async def stream_chunks(provider: AnthropicProvider, call: ChatCall) -> list[StreamChunk]:
    try:
        return [chunk async for chunk in provider.stream(call)]
    finally:
        await provider.aclose()


async def error_of(provider: AnthropicProvider, call: ChatCall, stream: bool) -> UpstreamError:
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


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


START = {
    "type": "message_start",
    "message": {
        "id": "msg_02",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-real",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 30,
            "output_tokens": 1,
        },
    },
}
