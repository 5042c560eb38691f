"""Shared parts for the Gemini provider tests: the key and model, a tool, calls, and
Gemini's usage block with what it becomes in OpenAI's format."""

from __future__ import annotations

from typing import Any

from services.router.providers.base import ChatCall, StreamChunk
from services.router.providers.gemini import GeminiProvider
from tollgate.config import ProviderConfig

KEY = "gm-secret-key-5678"
MODEL = "gemini-2.5-flash"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
USAGE = {
    "promptTokenCount": 120,
    "candidatesTokenCount": 30,
    "thoughtsTokenCount": 50,
    "cachedContentTokenCount": 100,
    "totalTokenCount": 200,
}
EXPECTED_USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 80,
    "total_tokens": 200,
    "prompt_tokens_details": {"cached_tokens": 100},
    "completion_tokens_details": {"reasoning_tokens": 50},
}


def chat_call(body: dict[str, Any]) -> ChatCall:
    return ChatCall("req-1", MODEL, body)


def hi(**extra: Any) -> ChatCall:
    return chat_call({"model": "alias", "messages": [{"role": "user", "content": "hi"}], **extra})


def provider_config(base_url: str, timeout: float = 5.0) -> ProviderConfig:
    return ProviderConfig("gm", "gemini", (MODEL,), base_url, KEY, timeout)


async def stream_chunks(provider: GeminiProvider, call: ChatCall) -> list[StreamChunk]:
    try:
        return [chunk async for chunk in provider.stream(call)]
    finally:
        await provider.aclose()
