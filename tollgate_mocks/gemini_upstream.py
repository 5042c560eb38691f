"""A Gemini API server (`generateContent`, `streamGenerateContent?alt=sse`) that
answers with the demo model, for tests of the Gemini provider.

Replies and token counts come from the demo model (services/router/providers/demo/),
so they are deterministic. As Gemini does, every streamed event repeats
`usageMetadata`, complete only on the last.
`MockGemini` serves it on a free port in a background thread, like `MockUpstream`.
Latency, token rate and failures (an error status, a hang, a stream cut, no usage)
are settable with openai_upstream's option names; see `tollgate_mocks.faults`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.router.providers.demo import model as demo
from services.router.providers.demo import vectors
from tollgate import embeddings
from tollgate.tokens import split_tokens
from tollgate_mocks.faults import Faults
from tollgate_mocks.openai_upstream import MockState, MockUpstream

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


def _embedding(request: Any, model: str, usage: list[int]) -> JSON | str:
    """One `ContentEmbedding` for an `EmbedContentRequest`, or why it is invalid;
    its tokens are added to `usage`."""
    if not isinstance(request, dict) or not isinstance(request.get("content"), dict):
        return "content is not specified"
    if request.get("model", f"models/{model}") != f"models/{model}":
        return f"the model of each request must be models/{model}"
    text = _texts(request["content"])
    dimensions = request.get("outputDimensionality") or vectors.DEMO_DIMENSIONS
    if not isinstance(dimensions, int) or not 0 < dimensions <= vectors.MAX_DEMO_DIMENSIONS:
        return "outputDimensionality is out of range"
    usage[0] += embeddings.count_tokens([text], model)
    return {"values": vectors.vector(text, dimensions)}


def embed_answer(body: JSON, model: str, method: str, *, with_usage: bool) -> JSON | str:
    """The answer to `batchEmbedContents` or `embedContent`, or why the body is invalid."""
    usage = [0]
    if method == "embedContent":
        one = _embedding(body, model, usage)
        return one if isinstance(one, str) else {"embedding": one}
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        return "requests is not specified"
    answers = [_embedding(request, model, usage) for request in requests]
    problems = [a for a in answers if isinstance(a, str)]
    if problems:
        return problems[0]
    out: JSON = {"embeddings": answers}
    if with_usage:  # newer API versions report usage; many do not
        out["usageMetadata"] = {"promptTokenCount": usage[0], "totalTokenCount": usage[0]}
    return out


def _sse(data: JSON) -> bytes:
    return b"data: " + demo.dumps(data) + b"\r\n\r\n"


def create_app(
    *,
    api_key: str | None = None,
    fail_status: int | None = None,
    thoughts_tokens: int = 0,
    token_delay_ms: float = 0,
    latency_ms: float = 0,
    break_after_chunks: int | None = None,
    omit_usage: bool = False,
    embed_usage: bool = False,
) -> Starlette:
    """The mock Gemini app. `thoughts_tokens` plays a thinking model: that many
    thought tokens in the final usage. The failure options are openai_upstream's (see
    `tollgate_mocks.faults`); a stream breaks after `break_after_chunks` events."""
    state = MockState()
    faults = Faults(latency_ms, token_delay_ms, fail_status, break_after_chunks, omit_usage)

    async def embed(request: Request, model: str, method: str) -> Response:
        """`batchEmbedContents` and `embedContent`, with the demo model's vectors;
        `usageMetadata` only when `embed_usage` is set."""
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if api_key is not None and key != api_key:
            reason = {"@type": "type.googleapis.com/google.rpc.ErrorInfo"}
            reason["reason"] = "API_KEY_INVALID"
            return _error(400, "API key not valid. Please pass a valid API key.", [reason])
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON payload received.")
        state.remember(body, dict(request.headers))
        await faults.wait_before_answering(request)
        if (status := state.failing(fail_status)) is not None:
            return _error(status, f"The mock Gemini fails with {status}.")
        answer = embed_answer(body, model, method, with_usage=embed_usage)
        if isinstance(answer, str):
            return _error(400, answer)
        return Response(demo.dumps(answer), media_type="application/json")

    async def generate(request: Request) -> Response:
        model, _, method = request.path_params["target"].partition(":")
        if method in ("batchEmbedContents", "embedContent"):
            return await embed(request, model, method)
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
        await faults.wait_before_answering(request)
        if (status := state.failing(fail_status)) is not None:
            return _error(status, f"The mock Gemini fails with {status}.")
        stream = method == "streamGenerateContent"
        events = responses(body, model, stream=stream, thoughts=thoughts_tokens)
        if omit_usage:
            events = [{k: v for k, v in e.items() if k != "usageMetadata"} for e in events]
        if not stream:
            return Response(demo.dumps(events[0]), media_type="application/json")
        if request.query_params.get("alt") != "sse":
            return Response(json.dumps(events), media_type="application/json")
        paced = faults.paced([_sse(event) for event in events], state.streams)
        return StreamingResponse(paced, media_type="text/event-stream")

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
