"""Any OpenAI-compatible server: OpenAI itself, vLLM, llama.cpp, the mock upstream.

The client's body goes upstream unchanged except `model` (the served model) and,
when streaming, `stream_options.include_usage` (forced on, so the upstream reports
what it bills).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import httpx

from services.router.providers.base import (
    ChatCall,
    Completion,
    EmbedCall,
    Embeddings,
    StreamChunk,
    upstream_failed,
    usage_from,
)
from services.router.providers.http import (
    CONNECT_TIMEOUT_SECONDS,
    LIMITS,
    error_for_exception,
    error_for_status,
    parse_object,
    post_sse,
)
from tollgate.config import ProviderConfig


class OpenAIProvider:
    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        self._url = f"{config.base_url}/chat/completions"
        self._embeddings_url = f"{config.base_url}/embeddings"
        headers = {"content-type": "application/json"}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self._headers = headers
        timeout = httpx.Timeout(
            config.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, config.timeout_seconds)
        )
        self._client = client or httpx.AsyncClient(timeout=timeout, limits=LIMITS)

    def _payload(self, call: ChatCall, *, stream: bool) -> bytes:
        body = dict(call.body)
        body["model"] = call.served_model
        if stream:
            body["stream"] = True
            options = body.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        elif body.get("stream"):
            body["stream"] = False
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    async def complete(self, call: ChatCall) -> Completion:
        try:
            response = await self._client.post(
                self._url, content=self._payload(call, stream=False), headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        if response.status_code >= 400:
            raise error_for_status(response.status_code, response.content)
        data = parse_object(response.content)
        return Completion(body=response.content, data=data, usage=usage_from(data))

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        request = self._client.build_request(
            "POST", self._url, content=self._payload(call, stream=True), headers=self._headers
        )
        events = post_sse(self._client, request)
        try:
            async for data in events:
                if data == "[DONE]":
                    return
                chunk = parse_object(data)
                if "error" in chunk and not chunk.get("choices"):
                    raise upstream_failed("The upstream provider failed mid-stream.")
                yield StreamChunk(raw=data.encode(), data=chunk, usage=usage_from(chunk))
        finally:
            await events.aclose()

    async def embed(self, call: EmbedCall) -> Embeddings:
        # The body goes on as the client sent it, aimed at the served model.
        body = {**call.body, "model": call.served_model}
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            response = await self._client.post(
                self._embeddings_url, content=payload, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        if response.status_code >= 400:
            raise error_for_status(response.status_code, response.content)
        data = parse_object(response.content)
        return Embeddings(body=response.content, usage=usage_from(data))

    async def aclose(self) -> None:
        await self._client.aclose()
