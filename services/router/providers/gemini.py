"""Google's Gemini API (`generateContent`), behind OpenAI's chat completion format.

Requests: system and developer messages become `systemInstruction`; user turns
`user`, assistant turns `model` (tool calls as `functionCall` parts); tool results
`functionResponse` parts in a `user` turn, named after the call they answer.
Consecutive turns of one role are merged, as Gemini wants parallel function
responses together. Tools are sent as `parametersJsonSchema`, which takes the JSON
Schema OpenAI clients write (`parameters` would reject `additionalProperties`).

Sent in `generationConfig`: temperature, top_p, max_tokens / max_completion_tokens,
stop, n, presence_penalty, frequency_penalty, seed and response_format (JSON mode
and JSON schema). Dropped, as Gemini has no equivalent: logit_bias, logprobs,
top_logprobs, parallel_tool_calls, user, metadata, store, service_tier,
reasoning_effort, modalities, audio, prediction and stream_options (Gemini always
reports usage). Image URLs other than `data:` go as `fileData`, which Gemini accepts
only for URIs it can fetch (its Files API, some public URLs).

Usage: `thoughtsTokenCount` is billed as output (reasoning tokens);
`promptTokenCount` already includes `cachedContentTokenCount`. While streaming,
only the last `usageMetadata` counts: Gemini repeats it, complete on the last event.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    ChatCall,
    Completion,
    EmbedCall,
    Embeddings,
    StreamChunk,
    UpstreamError,
    upstream_failed,
    usage_from,
)
from services.router.providers.clients import client_for
from services.router.providers.gemini_embed import embed_request, embed_response
from services.router.providers.gemini_request import dumps, request_body
from services.router.providers.http import (
    UpstreamClient,
    error_for_status,
    parse_object,
    post_json,
    post_sse,
)
from tollgate.config import ProviderConfig

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
}


def _count(metadata: JSON, key: str) -> int:
    value = metadata.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(metadata: Any) -> JSON | None:
    """OpenAI's usage block for Gemini's `usageMetadata`."""
    if not isinstance(metadata, dict):
        return None
    prompt = _count(metadata, "promptTokenCount")
    thoughts = _count(metadata, "thoughtsTokenCount")
    completion = _count(metadata, "candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _count(metadata, "cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _new_tool_call(call: JSON) -> JSON:
    return {
        "id": "call_" + uuid.uuid4().hex[:24],
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": json.dumps(call.get("args") or {})},
    }


def _read_parts(candidate: JSON) -> tuple[str, list[JSON]]:
    """A candidate's visible text and its tool calls (thought summaries left out)."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    texts: list[str] = []
    calls: list[JSON] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            calls.append(_new_tool_call(part["functionCall"]))
    return "".join(texts), calls


def _finish_reason(reason: Any, called: bool) -> str:
    if called:
        return "tool_calls"
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def _candidates(data: JSON) -> list[JSON]:
    candidates = data.get("candidates")
    if isinstance(candidates, list) and candidates:
        return [c for c in candidates if isinstance(c, dict)]
    feedback = data.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        raise UpstreamError(
            400,
            INVALID_REQUEST,
            "content_filter",
            f"Gemini blocked the prompt ({feedback['blockReason']}).",
            "messages",
        )
    if "error" in data:
        raise upstream_failed("The upstream provider failed mid-stream.")
    return []


def completion_body(data: JSON, model: str) -> JSON:
    """OpenAI's `chat.completion` for a Gemini `GenerateContentResponse`."""
    candidates = _candidates(data)
    if not candidates:
        raise upstream_failed("The upstream provider sent no answer.")
    choices = []
    for position, candidate in enumerate(candidates):
        text, calls = _read_parts(candidate)
        message: JSON = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": candidate.get("index", position),
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(candidate.get("finishReason"), bool(calls)),
            }
        )
    out: JSON = {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
    usage = usage_of(data.get("usageMetadata"))
    if usage is not None:
        out["usage"] = usage
    return out


class StreamTranslator:
    """Turns a stream of `GenerateContentResponse`s into `chat.completion.chunk`s."""

    def __init__(self, model: str) -> None:
        self.base: JSON = {
            "id": "chatcmpl-" + uuid.uuid4().hex,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self.tool_calls: dict[int, int] = {}  # choice index -> tool calls sent
        self.metadata: JSON | None = None  # the last usageMetadata seen
        self.finished: set[int] = set()  # choice indexes that got their finishReason

    @property
    def complete(self) -> bool:
        """Whether every choice begun got its finish reason: a stream that ends
        before is cut short, and its usageMetadata is not the final count."""
        return bool(self.tool_calls) and self.finished == set(self.tool_calls)

    def _chunk(self, index: int, delta: JSON, finish_reason: str | None = None) -> JSON:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self.base, "choices": [choice]}

    def chunks(self, data: JSON) -> list[JSON]:
        """The chunks for one streamed response."""
        if isinstance(data.get("usageMetadata"), dict):
            self.metadata = data["usageMetadata"]
        out: list[JSON] = []
        for position, candidate in enumerate(_candidates(data)):
            index = candidate.get("index", position)
            if index not in self.tool_calls:
                self.tool_calls[index] = 0
                out.append(self._chunk(index, {"role": "assistant", "content": ""}))
            text, calls = _read_parts(candidate)
            if text:
                out.append(self._chunk(index, {"content": text}))
            if calls:
                first = self.tool_calls[index]
                deltas = [{"index": first + i, **call} for i, call in enumerate(calls)]
                self.tool_calls[index] += len(calls)
                out.append(self._chunk(index, {"tool_calls": deltas}))
            if candidate.get("finishReason"):
                self.finished.add(index)
                reason = _finish_reason(candidate["finishReason"], self.tool_calls[index] > 0)
                out.append(self._chunk(index, {}, reason))
        return out

    def usage_chunk(self) -> JSON | None:
        usage = usage_of(self.metadata)
        return None if usage is None else {**self.base, "choices": [], "usage": usage}


# ---- the provider -------------------------------------------------------------------


def _auth_failure(status: int, body: bytes) -> bool:
    """Gemini answers a bad API key with 400 INVALID_ARGUMENT, not 401."""
    if status != 400:
        return False
    try:
        details = json.loads(body)["error"]["details"]
        return any(d.get("reason") == "API_KEY_INVALID" for d in details)
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def error_for_response(status: int, body: bytes) -> UpstreamError:
    return error_for_status(401 if _auth_failure(status, body) else status, body)


class GeminiProvider:
    def __init__(self, config: ProviderConfig, client: UpstreamClient | None = None) -> None:
        self.name = config.name
        self._base_url = config.base_url
        self._headers = {"content-type": "application/json"}
        if config.api_key:
            self._headers["x-goog-api-key"] = config.api_key
        self._client = client or client_for(config)

    def _url(self, model: str, method: str) -> str:
        return f"{self._base_url}/models/{model.removeprefix('models/')}:{method}"

    async def complete(self, call: ChatCall) -> Completion:
        payload = dumps(request_body(call.body))
        url = self._url(call.served_model, "generateContent")
        answer = await post_json(self._client, url, payload, self._headers, error_for_response)
        data = completion_body(answer.data, call.served_model)
        return Completion(body=dumps(data), data=data, usage=usage_from(data))

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        url = self._url(call.served_model, "streamGenerateContent") + "?alt=sse"
        payload = dumps(request_body(call.body))
        events = post_sse(self._client, url, payload, self._headers, error_for_response)
        translator = StreamTranslator(call.served_model)
        try:
            async for event in events:
                for chunk in translator.chunks(parse_object(event)):
                    yield StreamChunk(raw=dumps(chunk), data=chunk, usage=None)
            if not translator.complete:
                raise upstream_failed("The upstream provider ended the stream early.")
            last = translator.usage_chunk()
            if last is not None:
                yield StreamChunk(raw=dumps(last), data=last, usage=usage_from(last))
        finally:
            await events.aclose()

    async def embed(self, call: EmbedCall) -> Embeddings:
        payload = dumps(embed_request(call.body, call.served_model))
        url = self._url(call.served_model, "batchEmbedContents")
        answer = await post_json(self._client, url, payload, self._headers, error_for_response)
        data, usage = embed_response(answer.data, call)
        return Embeddings(body=dumps(data), usage=usage)

    async def aclose(self) -> None:
        await self._client.aclose()
