"""A Gemini API server (`generateContent`, `streamGenerateContent?alt=sse`) that
answers with the demo model, for tests of the Gemini provider.

Replies and token counts come from `tollgate.demo`, so they are deterministic. As
Gemini does, every streamed event repeats `usageMetadata`, complete only on the last.
`MockGemini` serves it on a free port in a background thread, like `MockUpstream`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tollgate import demo
from tollgate.mockupstream import MockState, MockUpstream
from tollgate.tokens import split_tokens

JSON = dict[str, Any]
API_VERSION = "v1beta"
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _error(status: int, message: str, details: list[JSON] | None = None) -> JSONResponse:
    error: JSON = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "")}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status)


def _texts(content: JSON) -> str:
    parts = content.get("parts") or []
    return "".join(p["text"] for p in parts if isinstance(p, dict) and "text" in p)


def openai_body(request: JSON) -> JSON:
    """The demo model's view of a Gemini request: an OpenAI chat completion body."""
    messages = []
    for content in request.get("contents") or []:
        role = "assistant" if content.get("role") == "model" else "user"
        messages.append({"role": role, "content": _texts(content)})
    body: JSON = {"messages": messages}
    declarations = [
        d for tool in request.get("tools") or [] for d in tool.get("functionDeclarations") or []
    ]
    if declarations:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": d.get("name"),
                    "parameters": d.get("parametersJsonSchema") or d.get("parameters") or {},
                },
            }
            for d in declarations
        ]
        config = (request.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if config.get("mode") == "ANY":
            names = config.get("allowedFunctionNames") or []
            body["tool_choice"] = (
                {"type": "function", "function": {"name": names[0]}} if names else "required"
            )
    limit = (request.get("generationConfig") or {}).get("maxOutputTokens")
    if limit:
        body["max_tokens"] = limit
    return body


def _usage(reply: demo.Reply, thoughts: int) -> JSON:
    usage: JSON = {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.completion_tokens,
        "totalTokenCount": reply.prompt_tokens + reply.completion_tokens + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _response(parts: list[JSON], model: str, response_id: str, **extra: Any) -> JSON:
    candidate: JSON = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if "finishReason" in extra:
        candidate["finishReason"] = extra.pop("finishReason")
    return {"candidates": [candidate], **extra, "modelVersion": model, "responseId": response_id}


def responses(request: JSON, model: str, *, stream: bool, thoughts: int = 0) -> list[JSON]:
    """The `GenerateContentResponse`s answering a request: one, or the streamed events."""
    reply = demo.reply_for(openai_body(request))
    finish = "MAX_TOKENS" if reply.finish_reason == "length" else "STOP"
    response_id = uuid.uuid4().hex[:22]
    pieces: list[list[JSON]]
    if reply.tool_call is not None:
        call = reply.tool_call
        pieces = [[{"functionCall": {"name": call.name, "args": json.loads(call.arguments)}}]]
    elif stream:
        pieces = [[{"text": t}] for t in split_tokens(reply.content or "", demo.COUNTING_MODEL)]
    else:
        pieces = [[{"text": reply.content or ""}]]
    partial = {"promptTokenCount": reply.prompt_tokens, "totalTokenCount": reply.prompt_tokens}
    out = [_response(p, model, response_id, usageMetadata=partial) for p in pieces[:-1]]
    out.append(
        _response(
            pieces[-1],
            model,
            response_id,
            finishReason=finish,
            usageMetadata=_usage(reply, thoughts),
        )
    )
    return out


def _sse(data: JSON) -> bytes:
    return b"data: " + demo.dumps(data) + b"\r\n\r\n"


def create_app(
    *,
    api_key: str | None = None,
    fail_status: int | None = None,
    thoughts_tokens: int = 0,
    token_delay_ms: float = 0,
) -> Starlette:
    """The mock Gemini app. `thoughts_tokens` plays a thinking model: that many
    thought tokens in the final usage."""
    state = MockState()

    async def generate(request: Request) -> Response:
        model, _, method = request.path_params["target"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method!r} is not found.")
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if api_key is not None and key != api_key:
            reason = {"@type": "type.googleapis.com/google.rpc.ErrorInfo"}
            reason["reason"] = "API_KEY_INVALID"
            return _error(400, "API key not valid. Please pass a valid API key.", [reason])
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "Invalid JSON payload received.")
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
            return _error(400, "* GenerateContentRequest.contents: contents is not specified")
        state.remember(body, dict(request.headers))
        if fail_status is not None:
            return _error(fail_status, f"The mock Gemini fails with {fail_status}.")
        if method == "generateContent":
            (data,) = responses(body, model, stream=False, thoughts=thoughts_tokens)
            return Response(demo.dumps(data), media_type="application/json")
        events = responses(body, model, stream=True, thoughts=thoughts_tokens)
        if request.query_params.get("alt") != "sse":
            return Response(json.dumps(events), media_type="application/json")
        return StreamingResponse(_stream(events), media_type="text/event-stream")

    async def _stream(events: list[JSON]) -> AsyncIterator[bytes]:
        state.streams.started += 1
        done = False
        try:
            for i, event in enumerate(events):
                if token_delay_ms and i:
                    await asyncio.sleep(token_delay_ms / 1000)
                yield _sse(event)
            done = True
        finally:
            if done:
                state.streams.finished += 1
            else:
                state.streams.aborted += 1

    app = Starlette(routes=[Route(f"/{API_VERSION}/models/{{target}}", generate, methods=["POST"])])
    app.state.mock = state
    app.state.requests = state.requests
    return app


class MockGemini(MockUpstream):
    """The mock Gemini API on a free local port, served from a background thread."""

    def __init__(self, **options: Any) -> None:  # start, stop and state are inherited
        super().__init__(app=create_app(**options))

    @property
    def root_url(self) -> str:
        """What the google-genai SDK takes as its base_url."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/{API_VERSION}"
