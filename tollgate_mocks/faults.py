"""The settable failures the Anthropic and Gemini mocks share with `openai_upstream`.

Options keep openai_upstream's names: `latency_ms` (a wait before answering; longer
than the client's timeout, it is a hang), `token_delay_ms` (the pace of streamed
events), `fail_status` (an HTTP error in the provider's own error format),
`break_after_chunks` (the connection drops after that many events, before the
final ones) and `omit_usage` (no usage block anywhere in the answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request

from tollgate_mocks.openai_upstream import BrokenStream, StreamStats, wait_before_answering


@dataclass(frozen=True)
class Faults:
    latency_ms: float = 0
    token_delay_ms: float = 0
    fail_status: int | None = None
    break_after_chunks: int | None = None
    omit_usage: bool = False

    async def wait_before_answering(self, request: Request) -> None:
        """Wait `latency_ms`, less if the client goes away first (as a client that
        timed out does): the server then stops at once, as a real one would."""
        await wait_before_answering(request, self.latency_ms)

    async def paced(self, events: list[bytes], stats: StreamStats) -> AsyncIterator[bytes]:
        """The encoded events at the set pace, counted in `stats`: a client that goes
        away mid-stream shows up in `stats.aborted`."""
        stats.started += 1
        done = False
        try:
            for i, event in enumerate(events):
                if self.token_delay_ms and i:
                    await asyncio.sleep(self.token_delay_ms / 1000)
                if self.break_after_chunks is not None and i >= self.break_after_chunks:
                    # Raised inside the response, it makes the server drop the connection.
                    raise BrokenStream(f"the mock upstream breaks after {i} events")
                yield event
            done = True
        finally:
            if done:
                stats.finished += 1
            else:
                stats.aborted += 1
