"""The OpenAI mock's Responses API (`POST /v1/responses`), answered by the demo model.

The input (a string, or message, function_call and function_call_output items) and
`instructions` become chat messages for the demo model; its answer comes back as a
`response` object (a message with output_text, or a function_call when a tool is
forced) with Responses usage, or as the stream of events OpenAI sends, ending in
`response.completed`. Responses are kept in memory (unless `store` is false), so a
`previous_response_id` continues one; an unknown one is a 400, as OpenAI answers.
Each call is listed in `GET /_served` like a chat call."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.router.providers.demo import model as demo

JSON = dict[str, Any]
Served = Callable[[str, bool, int, int], None]  # user, stream, prompt, completion


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _messages(items: list[Any]) -> list[JSON]:
    messages: list[JSON] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(
                {"role": item.get("role", "user"), "content": _text(item.get("content"))}
            )
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            }
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": _text(item.get("output")),
                }
            )
    return messages


def _items(given: Any) -> list[Any]:
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    return list(given) if isinstance(given, list) else []


def _chat(body: JSON, history: list[JSON]) -> JSON:
    messages = history + _messages(_items(body.get("input")))
    if isinstance(body.get("instructions"), str):
        messages = [{"role": "system", "content": body["instructions"]}, *messages]
    chat: JSON = {"model": body.get("model"), "messages": messages}
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chat["tools"] = [
            {"type": "function", "function": {k: v for k, v in t.items() if k != "type"}}
            for t in tools
            if isinstance(t, dict)
        ]
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif choice is not None:
            chat["tool_choice"] = choice
    if isinstance(body.get("max_output_tokens"), int):
        chat["max_tokens"] = body["max_output_tokens"]
    return chat


def _output(reply: demo.Reply, stem: str) -> list[JSON]:
    if reply.tool_call is not None:
        call = reply.tool_call
        return [
            {
                "type": "function_call",
                "id": f"fc_{stem}",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "status": "completed",
            }
        ]
    part = {"type": "output_text", "text": reply.content or "", "annotations": [], "logprobs": []}
    message = {"type": "message", "id": f"msg_{stem}", "status": "completed", "role": "assistant"}
    return [{**message, "content": [part]}]


def _response(body: JSON, reply: demo.Reply, resp_id: str, status: str) -> JSON:
    usage = {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    return {
        "id": resp_id,
        "object": "response",
        "created_at": 0,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "model": body.get("model"),
        "output": _output(reply, resp_id.removeprefix("resp_")) if status != "in_progress" else [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "store": body.get("store", True) is not False,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "usage": usage if status != "in_progress" else None,
        "user": body.get("user"),
        "metadata": {},
    }


def _events(body: JSON, reply: demo.Reply, resp_id: str) -> list[JSON]:
    """The stream OpenAI sends for the reply, without sequence numbers."""
    start = _response(body, reply, resp_id, "in_progress")
    final = _response(body, reply, resp_id, "completed")
    item = final["output"][0]
    at = {"output_index": 0, "item_id": item["id"]}
    opened = {**item, "status": "in_progress"}
    events: list[JSON] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
    ]
    if item["type"] == "function_call":
        events += [
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**opened, "arguments": ""},
            },
            {"type": "response.function_call_arguments.delta", **at, "delta": item["arguments"]},
            {"type": "response.function_call_arguments.done", **at, "arguments": item["arguments"]},
        ]
    else:
        text = item["content"][0]["text"]
        empty = {**item["content"][0], "text": ""}
        events += [
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**opened, "content": []},
            },
            {"type": "response.content_part.added", **at, "content_index": 0, "part": empty},
        ]
        for word in text.split(" "):
            delta = word if not events[-1]["type"].endswith("delta") else " " + word
            events.append(
                {
                    "type": "response.output_text.delta",
                    **at,
                    "content_index": 0,
                    "delta": delta,
                    "logprobs": [],
                }
            )
        events += [
            {
                "type": "response.output_text.done",
                **at,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
            {
                "type": "response.content_part.done",
                **at,
                "content_index": 0,
                "part": item["content"][0],
            },
        ]
    events += [
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": final},
    ]
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def _sse(event: JSON) -> bytes:
    return f"event: {event['type']}\ndata: ".encode() + demo.dumps(event) + b"\n\n"


class ResponsesEndpoint:
    """`POST /v1/responses` of the mock; `stored` maps a response id to the chat
    messages of its conversation (input and answer)."""

    def __init__(self, served: Served) -> None:
        self._served = served
        self.stored: dict[str, list[JSON]] = {}

    async def __call__(self, request: Request, body: JSON) -> Response:
        history: list[JSON] = []
        previous = body.get("previous_response_id")
        if previous is not None:
            if previous not in self.stored:
                error = {
                    "message": f"Previous response with id '{previous}' not found.",
                    "type": "invalid_request_error",
                    "param": "previous_response_id",
                    "code": "previous_response_not_found",
                }
                return JSONResponse({"error": error}, status_code=400)
            history = self.stored[previous]
        chat = _chat(body, history)
        reply = demo.reply_for(chat)
        resp_id = "resp_" + uuid.uuid4().hex
        if body.get("store", True) is not False:
            answer: JSON = {"role": "assistant", "content": reply.content}
            if reply.tool_call is not None:
                call = reply.tool_call
                function = {"name": call.name, "arguments": call.arguments}
                answer["tool_calls"] = [{"id": call.id, "type": "function", "function": function}]
            self.stored[resp_id] = [*chat["messages"], answer]
        user = body.get("user") if isinstance(body.get("user"), str) else ""
        stream = bool(body.get("stream"))
        self._served(str(user), stream, reply.prompt_tokens, reply.completion_tokens)
        if not stream:
            data = _response(body, reply, resp_id, "completed")
            return Response(json.dumps(data), media_type="application/json")
        payload = b"".join(_sse(event) for event in _events(body, reply, resp_id))
        return Response(payload, media_type="text/event-stream")
