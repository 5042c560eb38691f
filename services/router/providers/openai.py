"""Any OpenAI-compatible server: OpenAI itself, vLLM, llama.cpp, the mock upstream.

The client's body goes upstream unchanged except `model` (the served model) and,
when streaming, `stream_options.include_usage` (forced on, so the upstream reports
what it bills). A provider configured with `apis: [responses]` also takes Responses
API bodies as they came (`respond`, `respond_stream`: openai_responses.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from services.router.providers import openai_responses
from services.router.providers.base import (
    ChatCall,
    Completion,
    EmbedCall,
    Embeddings,
    StreamChunk,
    upstream_failed,
    usage_from,
)
from services.router.providers.clients import client_for
from services.router.providers.http import UpstreamClient, parse_object, post_json, post_sse
from tollgate.config import ProviderConfig


class OpenAIProvider:
    def __init__(self, config: ProviderConfig, client: UpstreamClient | None = None) -> None:
        self.name = config.name
        self._url = f"{config.base_url}/chat/completions"
        self._embeddings_url = f"{config.base_url}/embeddings"
        self._responses_url = f"{config.base_url}/responses"
        self.apis = config.apis
        headers = {"content-type": "application/json"}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self._headers = headers
        self._client = client or client_for(config)

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
        payload = self._payload(call, stream=False)
        answer = await post_json(self._client, self._url, payload, self._headers)
        return Completion(body=answer.raw, data=answer.data, usage=usage_from(answer.data))

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        payload = self._payload(call, stream=True)
        events = post_sse(self._client, self._url, payload, self._headers)
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
        answer = await post_json(self._client, self._embeddings_url, payload, self._headers)
        return Embeddings(body=answer.raw, usage=usage_from(answer.data))

    async def respond(self, call: ChatCall) -> Completion:
        """A Responses API call, passed through (its body is a Responses request)."""
        if openai_responses.RESPONSES not in self.apis:
            raise openai_responses.not_served(self.name)
        return await openai_responses.respond(
            self._client, self._responses_url, self._headers, call
        )

    async def respond_stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        if openai_responses.RESPONSES not in self.apis:
            raise openai_responses.not_served(self.name)
        events = openai_responses.respond_stream(
            self._client, self._responses_url, self._headers, call
        )
        try:
            async for chunk in events:
                yield chunk
        finally:
            await events.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
