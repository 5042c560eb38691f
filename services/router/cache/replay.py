"""A cached chat.completion answered again: as it is (with a fresh id and time), or
as the stream OpenAI would have sent for it: per choice a role chunk, content chunks,
tool-call chunks and a finish chunk, then a usage chunk when the client asked for
one. The OpenAI SDKs parse it like any stream."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

JSON = dict[str, Any]
PIECE_CHARS = 64  # content is replayed in pieces of about this many characters


def fresh(response: bytes) -> JSON:
    """The cached response under a new id and the time of this answer."""
    data = json.loads(response)
    data["id"] = "chatcmpl-" + uuid.uuid4().hex
    data["created"] = int(time.time())
    return data


def as_response(data: JSON) -> bytes:
    return _dump(data)


def as_chunks(data: JSON, include_usage: bool) -> list[bytes]:
    head = {"id": data.get("id", ""), "object": "chat.completion.chunk"}
    head |= {"created": data.get("created", 0), "model": data.get("model", "")}
    if "system_fingerprint" in data:
        head["system_fingerprint"] = data["system_fingerprint"]

    def chunk(index: int, delta: JSON, finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _dump({**head, "choices": [{**choice, **extra}]})

    chunks: list[bytes] = []
    for position, choice in enumerate(data.get("choices") or []):
        index = choice.get("index", position)
        message = choice.get("message") or {}
        # As OpenAI starts a stream: "" before text, null before tool calls only.
        start = "" if isinstance(message.get("content"), str) else None
        chunks.append(chunk(index, {"role": message.get("role") or "assistant", "content": start}))
        for field in ("reasoning_content", "content", "refusal"):
            text = message.get(field)
            if isinstance(text, str):
                chunks.extend(chunk(index, {field: piece}) for piece in _pieces(text))
        for i, call in enumerate(message.get("tool_calls") or []):
            chunks.append(chunk(index, {"tool_calls": [{"index": i, **call}]}))
        finish = choice.get("finish_reason") or "stop"
        chunks.append(chunk(index, {}, finish, logprobs=choice.get("logprobs")))
    if include_usage and isinstance(data.get("usage"), dict):
        chunks.append(_dump({**head, "choices": [], "usage": data["usage"]}))
    return chunks


def _pieces(text: str) -> list[str]:
    return [text[i : i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)]


def _dump(data: JSON) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
