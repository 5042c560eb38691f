"""What the router's own call path costs: CPU per call of RouterServicer.ChatCompletion
driven in process (no gRPC, usage records kept in a list), its provider sending to a
bare HTTP/1.1 upstream in another process that answers at once, non-streaming (one JSON
answer) and streaming (seven chunks, a usage chunk and [DONE]). What is left is the
router's work a call: the body parsed, the route planned, the upstream request sent and
its answer read, the usage record built.

    .venv/bin/python bench/router_call.py [--calls 2000] [--rounds 3]

To set it beside another revision, run it with that revision's code first on the path:
`git archive REV services tollgate | tar -x -C /tmp/old && PYTHONPATH=/tmp/old ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import Any

from services.router.opencalls import OpenCall, Progress, untracked
from services.router.providers.observed import Observed
from services.router.providers.openai import OpenAIProvider
from services.router.server import RouterServicer
from tollgate.config import ProviderConfig, Route
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    data: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "model": "m"}
    data["choices"] = choices
    if usage:
        data["usage"] = usage
    return b"data: " + json.dumps(data).encode() + b"\n\n"


WORDS = ("Hello", " there", ",", " friend", ".")
EVENTS = (
    _chunk({"role": "assistant", "content": ""})
    + b"".join(_chunk({"content": word}) for word in WORDS)
    + _chunk({}, "stop")
    + _chunk({}, usage={"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})
    + b"data: [DONE]\n\n"
)


def _answer(content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


class _Upstream(asyncio.Protocol):
    """Answers each request as soon as its body is in: events when it asks to stream."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: Any = transport
        self._pending = b""

    def data_received(self, data: bytes) -> None:
        self._pending += data
        while b"\r\n\r\n" in self._pending:
            head, _, rest = self._pending.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if len(rest) < length:
                return
            body, self._pending = rest[:length], rest[length:]
            streams = b'"stream":true' in body
            answer = _answer("text/event-stream", EVENTS) if streams else None
            self._transport.write(answer or _answer("application/json", ANSWER))


def serve(port: int) -> None:
    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(run())


class _Records:
    def __init__(self) -> None:
        self.records: list[metering_pb2.UsageRecord] = []

    def open(self, request_id: str, progress: Progress) -> OpenCall:
        return untracked(request_id)

    def put(self, record: metering_pb2.UsageRecord) -> None:
        self.records.append(record)


async def measure(port: int, calls: int, stream: bool) -> float:
    """CPU ms per call of `calls` calls, after a warm-up."""
    config = ProviderConfig("up", "openai", ("m",), f"http://127.0.0.1:{port}/v1", "sk")
    provider = Observed(OpenAIProvider(config), config)
    records = _Records()
    servicer = RouterServicer({"m": Route("m", "m", "up")}, {"up": provider}, records)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}]}).encode()
    caller = common_pb2.Caller(project_id="bench")

    async def one(index: int) -> None:
        request = router_pb2.ChatRequest(
            model="m", body=body, request_id=f"r{index}", stream=stream, caller=caller
        )
        request.include_usage = stream
        async for _ in servicer.ChatCompletion(request, None):  # type: ignore[arg-type]
            pass

    try:
        for index in range(200):
            await one(index)
        started = time.process_time()
        for index in range(calls):
            await one(index)
        spent = time.process_time() - started
    finally:
        await provider.aclose()
    last = records.records[-1]
    assert last.status == metering_pb2.CALL_STATUS_OK and last.usage.prompt_tokens == 5
    return spent / calls * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)  # the child's port
    args = parser.parse_args()
    if args.upstream:
        serve(args.upstream)
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    upstream = subprocess.Popen([sys.executable, __file__, "--upstream", str(port)])
    try:
        time.sleep(1.0)
        for stream in (False, True):
            spent = [asyncio.run(measure(port, args.calls, stream)) for _ in range(args.rounds)]
            label = "stream" if stream else "plain"
            figures = " ".join(f"{ms:.3f}" for ms in spent)
            print(f"{label:6} CPU ms per call: least {min(spent):.3f} (rounds: {figures})")
    finally:
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
