"""How a call ends when the upstream does not end it cleanly: the total-call deadline,
and the usage chunk a client that asked for usage gets when the upstream sent none.

The deadline keeps every call shorter than its budget reservation: a call that
settles after its reservation expired is billed without a hold and can pass a hard
limit (see `Settings.max_call_seconds`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from services.router.providers.base import JSON, SERVER_ERROR, StreamChunk, UpstreamError
from tollgate.v1 import common_pb2

CALL_TOO_LONG = "call_too_long"
T = TypeVar("T")


def call_too_long(max_seconds: float) -> UpstreamError:
    return UpstreamError(
        504,
        SERVER_ERROR,
        CALL_TOO_LONG,
        f"The call ran longer than tollgate's limit of {max_seconds:g} seconds and was "
        "ended; what was generated until then is billed.",
    )


class CallTooLong(Exception):
    """The call's deadline passed while the upstream was still answering."""


def deadline_after(seconds: float) -> float:
    """The event loop time `seconds` from now."""
    return asyncio.get_running_loop().time() + seconds


async def before(deadline: float, step: Awaitable[T]) -> T:
    """Await `step` unless `deadline` (loop time) passes first; then the step is
    cancelled (an upstream request closes its connection) and CallTooLong raised."""
    timeout = asyncio.timeout_at(deadline)
    try:
        async with timeout:
            return await step
    except TimeoutError:
        if timeout.expired():
            raise CallTooLong from None
        raise


async def next_before(deadline: float, upstream: AsyncIterator[StreamChunk]) -> StreamChunk | None:
    """The upstream's next chunk, None at its end; CallTooLong once `deadline` passes
    (a chunk the upstream had ready is not taken then: the call is over)."""
    if asyncio.get_running_loop().time() >= deadline:
        raise CallTooLong
    try:
        return await before(deadline, anext(upstream))
    except StopAsyncIteration:
        return None


def usage_chunk(first: JSON | None, model: str, usage: common_pb2.Usage) -> bytes:
    """An OpenAI final usage chunk (`choices: []`) with the counts tollgate billed,
    for a stream whose upstream reported none; it carries the stream's id and model."""
    first = first or {}
    chunk: JSON = {
        "id": first.get("id") or "",
        "object": "chat.completion.chunk",
        "created": first.get("created") or int(time.time()),
        "model": first.get("model") or model,
        "choices": [],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    }
    return json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode()
