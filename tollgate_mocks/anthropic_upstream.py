"""An HTTP server speaking Anthropic's Messages API, answering with the demo model.

It checks what the real API checks first (the `x-api-key` and `anthropic-version`
headers, `model`, `max_tokens` and `messages`), answers with the demo model's reply
(services/router/providers/demo/model.py) and streams the event sequence the real
API sends: message_start, content_block_start, ping, content_block_delta...,
content_block_stop, message_delta (with the cumulative output token count) and
message_stop. Blocks marked with
`cache_control` are billed as the real API bills them: written to the prompt cache the
first time their prefix is seen, read from it on a repeat (`tollgate_mocks.prompt_cache`;
`prompt_cache=False` ignores the marks). `cache_read_tokens` makes that many of the
prompt's tokens count as read from the cache in a request without marks.
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
from tollgate.tokens import split_tokens
from tollgate_mocks.faults import Faults
from tollgate_mocks.openai_upstream import MockState, MockUpstream
from tollgate_mocks.prompt_cache import NO_CACHE, CacheUse, PromptCache

JSON = dict[str, Any]
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _error(status: int, message: str) -> JSONResponse:
    kind = ERROR_TYPES.get(status, "api_error")
    payload = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(payload, status_code=status)


def _event(data: JSON) -> bytes:
    return f"event: {data['type']}\n".encode() + b"data: " + demo.dumps(data) + b"\n\n"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text") for b in content if isinstance(b, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def openai_body(body: JSON) -> JSON:
    """The Messages request as the OpenAI body the demo model answers."""
    messages: list[JSON] = []
    if body.get("system"):
        messages.append({"role": "system", "content": _text(body["system"])})
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            messages.append({"role": message.get("role"), "content": _text(message.get("content"))})
    tools = [
        {
            "type": "function",
            "function": {"name": t.get("name"), "parameters": t.get("input_schema")},
        }
        for t in body.get("tools") or []
        if isinstance(t, dict)
    ]
    choice = body.get("tool_choice")
    choice = choice if isinstance(choice, dict) else {}
    tool_choice: Any = "auto"
    if choice.get("type") == "any":
        tool_choice = "required"
    elif choice.get("type") == "tool":
        tool_choice = {"type": "function", "function": {"name": choice.get("name")}}
    out: JSON = {"messages": messages, "max_tokens": body.get("max_tokens")}
    if tools:
        out.update(tools=tools, tool_choice=tool_choice)
    return out


def _usage(reply: demo.Reply, cache: CacheUse) -> JSON:
    read = min(cache.read, reply.prompt_tokens)
    written = min(cache.written, reply.prompt_tokens - read)
    return {
        "input_tokens": reply.prompt_tokens - read - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": reply.completion_tokens,
    }


def message(body: JSON, reply: demo.Reply, cache: CacheUse = NO_CACHE) -> JSON:
    """The whole non-streaming Messages API response."""
    content: list[JSON] = []
    if reply.tool_call is not None:
        call = reply.tool_call
        arguments = json.loads(call.arguments)
        content.append(
            {"type": "tool_use", "id": _tool_id(), "name": call.name, "input": arguments}
        )
    else:
        content.append({"type": "text", "text": reply.content or ""})
    return {
        "id": _message_id(),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": STOP_REASONS[reply.finish_reason],
        "stop_sequence": None,
        "usage": _usage(reply, cache),
    }


def events(body: JSON, reply: demo.Reply, cache: CacheUse = NO_CACHE) -> list[JSON]:
    """The streamed response, as the real API orders its events."""
    usage = _usage(reply, cache)
    start = {
        "id": _message_id(),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    out: list[JSON] = [{"type": "message_start", "message": start}]
    if reply.tool_call is not None:
        call = reply.tool_call
        block: JSON = {"type": "tool_use", "id": _tool_id(), "name": call.name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in ("", call.arguments)]
    else:
        block = {"type": "text", "text": ""}
        pieces = split_tokens(reply.content or "", demo.COUNTING_MODEL)
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
    out.append({"type": "content_block_start", "index": 0, "content_block": block})
    out.append({"type": "ping"})
    out.extend({"type": "content_block_delta", "index": 0, "delta": d} for d in deltas)
    out.append({"type": "content_block_stop", "index": 0})
    stop = {"stop_reason": STOP_REASONS[reply.finish_reason], "stop_sequence": None}
    out.append({"type": "message_delta", "delta": stop, "usage": usage})
    out.append({"type": "message_stop"})
    return out


def _message_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


def _tool_id() -> str:
    return "toolu_" + uuid.uuid4().hex[:24]


def _key_of(request: Request) -> str | None:
    # The API documents `x-api-key`; anthropic SDK 2.x sends the key as a bearer token.
    bearer = request.headers.get("authorization", "")
    return request.headers.get("x-api-key") or bearer.removeprefix("Bearer ") or None


def _invalid_body(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages: Field required"
    return None


def _without_usage(events: list[JSON]) -> list[JSON]:
    """The stream as an upstream that reports no usage would send it."""
    out = []
    for event in events:
        event = {k: v for k, v in event.items() if k != "usage"}
        if event["type"] == "message_start":
            event["message"] = {k: v for k, v in event["message"].items() if k != "usage"}
        out.append(event)
    return out


def create_app(
    *,
    api_key: str | None = None,
    cache_read_tokens: int = 0,
    latency_ms: float = 0,
    token_delay_ms: float = 0,
    fail_status: int | None = None,
    break_after_chunks: int | None = None,
    omit_usage: bool = False,
    prompt_cache: bool = True,
    cache_min_tokens: int = 0,
) -> Starlette:
    """The mock Messages API app; what it received is in `app.state.requests`. The
    failure options are openai_upstream's (see `tollgate_mocks.faults`); a stream breaks
    after `break_after_chunks` events. `prompt_cache` honours cache_control marks on
    prefixes of at least `cache_min_tokens` tokens (`tollgate_mocks.prompt_cache`)."""
    state = MockState()
    faults = Faults(latency_ms, token_delay_ms, fail_status, break_after_chunks, omit_usage)
    cache = PromptCache(cache_min_tokens)

    def cache_use(body: JSON, reply: demo.Reply) -> CacheUse:
        use = cache.use(body, reply.prompt_tokens) if prompt_cache else NO_CACHE
        return use if use != NO_CACHE else CacheUse(read=cache_read_tokens)

    async def messages(request: Request) -> Response:
        if api_key is not None and _key_of(request) != api_key:
            return _error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        problem = _invalid_body(body)
        if problem is not None:
            return _error(400, problem)
        state.remember(body, dict(request.headers))
        await faults.wait_before_answering(request)
        if (status := state.failing(fail_status)) is not None:
            return _error(status, f"The mock Anthropic API fails with {status}.")
        reply = demo.reply_for(openai_body(body))
        use = cache_use(body, reply)
        if not body.get("stream"):
            data = message(body, reply, use)
            if omit_usage:
                del data["usage"]
            return JSONResponse(data)
        items = events(body, reply, use)
        if omit_usage:
            items = _without_usage(items)
        stream = faults.paced([_event(item) for item in items], state.streams)
        return StreamingResponse(stream, media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])
    app.state.mock = state
    app.state.requests = state.requests
    return app


class MockAnthropic(MockUpstream):
    """The mock Messages API on a free local port, served from a background thread."""

    def __init__(self, **options: Any) -> None:  # start, stop and state are inherited
        super().__init__(app=create_app(**options))

    @property
    def root(self) -> str:
        """What the official SDK takes as `base_url`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What a tollgate provider takes as `base_url`."""
        return f"{self.root}/v1"
