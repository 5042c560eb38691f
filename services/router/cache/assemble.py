"""A finished stream's chunks folded back into the non-streaming response they
stand for, so a streamed answer can be cached once and replayed either way."""

from __future__ import annotations

import json
from typing import Any

from tollgate.v1 import common_pb2

JSON = dict[str, Any]
TEXT_FIELDS = ("content", "refusal", "reasoning_content")


def usage_json(usage: common_pb2.Usage) -> JSON:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def assemble(chunks: list[bytes], usage: common_pb2.Usage) -> bytes | None:
    """The chat.completion the chunks spell out; None when they are not one (no
    chunk, or a choice that never finished). `usage` stands in for a stream whose
    usage chunk the client did not ask for."""
    head: JSON = {}
    choices: dict[int, JSON] = {}
    reported: Any = None
    for raw in chunks:
        data = json.loads(raw)
        if not isinstance(data, dict):
            return None
        for field in ("id", "created", "model", "system_fingerprint"):
            if field in data and field not in head:
                head[field] = data[field]
        if isinstance(data.get("usage"), dict):
            reported = data["usage"]
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict):
                return None
            _fold(choices.setdefault(int(choice.get("index", 0)), _empty()), choice)
    if not choices or any(c["finish_reason"] is None for c in choices.values()):
        return None
    response = {
        "id": head.get("id", ""),
        "object": "chat.completion",
        "created": head.get("created", 0),
        "model": head.get("model", ""),
        "choices": [_finished(index, choices[index]) for index in sorted(choices)],
        "usage": reported or usage_json(usage),
    }
    if "system_fingerprint" in head:
        response["system_fingerprint"] = head["system_fingerprint"]
    return json.dumps(response, separators=(",", ":"), ensure_ascii=False).encode()


def _empty() -> JSON:
    return {"message": {"role": "assistant"}, "tools": {}, "logprobs": None, "finish_reason": None}


def _fold(into: JSON, choice: JSON) -> None:
    delta = choice.get("delta") or {}
    message = into["message"]
    for field in TEXT_FIELDS:
        if isinstance(delta.get(field), str):
            message[field] = message.get(field, "") + delta[field]
    for position, call in enumerate(delta.get("tool_calls") or []):
        index = call.get("index", position)
        tool = into["tools"].setdefault(index, {"function": {"name": "", "arguments": ""}})
        for field in ("id", "type"):
            if call.get(field):
                tool[field] = call[field]
        function = call.get("function") or {}
        for field in ("name", "arguments"):
            if isinstance(function.get(field), str):
                tool["function"][field] += function[field]
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict):
        kept = into["logprobs"] = into["logprobs"] or {}
        for field, items in logprobs.items():
            if isinstance(items, list):
                kept[field] = kept.get(field, []) + items
    if choice.get("finish_reason"):
        into["finish_reason"] = choice["finish_reason"]


def _finished(index: int, choice: JSON) -> JSON:
    message = dict(choice["message"])
    message.setdefault("content", None)
    if choice["tools"]:
        message["tool_calls"] = [
            {"type": "function", **choice["tools"][i]} for i in sorted(choice["tools"])
        ]
    return {
        "index": index,
        "message": message,
        "logprobs": choice["logprobs"],
        "finish_reason": choice["finish_reason"],
    }
