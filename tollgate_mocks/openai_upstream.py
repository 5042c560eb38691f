"""An OpenAI-compatible HTTP server that answers with the demo model.

It is the upstream of the tests and of the benchmark, so it stays small and fast.
`create_app` builds the Starlette app; `run` serves it with uvicorn; `MockUpstream`
serves it on a free port in a background thread for tests.

`GET /_served` lists every call the mock answered (its `user` field, whether it
streamed, the prompt and completion tokens it sent, whether it finished): what a
provider would bill, for tests that compare it with tollgate's ledger.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.router.providers.demo import model as demo
from services.router.providers.demo import vectors
from tollgate.config import DEMO_MODEL
from tollgate.tokens import count_text
from tollgate_mocks.openai_responses import ResponsesEndpoint

MAX_RECORDED_REQUESTS = 1000
MAX_SERVED_CALLS = 100_000  # past this (a long benchmark), only the totals keep counting
DONE = b"data: [DONE]\n\n"
DISCONNECT_POLL_SECONDS = 0.02


class BrokenStream(Exception):
    """Raised inside a streaming response so the server drops the connection."""


@dataclass
class StreamStats:
    """How the mock's streams ended: a router that closes early shows up in `aborted`."""

    started: int = 0
    finished: int = 0
    aborted: int = 0


@dataclass
class ServedCall:
    """One chat call the mock answered, as a provider would bill it: the prompt, and
    the completion tokens it sent (all of them when `finished`; fewer when the
    client went away mid-stream)."""

    user: str  # the request's `user` field: a test's tag for the call
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    finished: bool


@dataclass
class ServedLog:
    """Every chat call answered (a stream counts from its first event sent): the
    calls, newest last, up to MAX_SERVED_CALLS, and totals that never stop counting."""

    calls: list[ServedCall] = field(default_factory=list)
    received: int = 0  # chat requests taken, answered or not
    served: int = 0
    dropped: int = 0  # calls no longer listed (past MAX_SERVED_CALLS)

    def add(self, call: ServedCall) -> None:
        self.served += 1
        if len(self.calls) >= MAX_SERVED_CALLS:
            self.dropped += 1
            return
        self.calls.append(call)

    def to_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "served": self.served,
            "dropped": self.dropped,
            "calls": [call.__dict__ for call in list(self.calls)],
        }


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    return user if isinstance(user, str) else ""


def _served_stream(
    body: dict[str, Any], chunks: list[dict[str, Any]], sent: int, finished: bool
) -> ServedCall:
    """What a stream of which `sent` chunks went out bills: its final usage when that
    went out, else the prompt and the tokens of the text sent."""
    usage = chunks[-1].get("usage") if finished else None
    if isinstance(usage, dict):
        prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    else:
        text = "".join(
            str(choice.get("delta", {}).get("content") or "")
            for chunk in chunks[:sent]
            for choice in chunk.get("choices", [])
        )
        prompt = demo.reply_for(body).prompt_tokens
        completion = count_text(text, demo.COUNTING_MODEL)
    return ServedCall(_user(body), True, prompt, completion, finished)


@dataclass
class MockState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    streams: StreamStats = field(default_factory=StreamStats)
    served: ServedLog = field(default_factory=ServedLog)
    # Set at run time (tests, outage drills): every call fails with this status
    # until it is set back to None; it wins over the app's own `fail_status`.
    fail_status: int | None = None

    def failing(self, configured: int | None) -> int | None:
        return self.fail_status or configured

    def remember(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.requests.append(body)
        self.headers.append(headers)
        if len(self.requests) > MAX_RECORDED_REQUESTS:
            del self.requests[: -MAX_RECORDED_REQUESTS // 2]
            del self.headers[: -MAX_RECORDED_REQUESTS // 2]


async def wait_before_answering(request: Request, latency_ms: float) -> None:
    """Wait `latency_ms`, less if the client goes away first (as a client that timed
    out does): the server then stops at once, as a real one would."""
    deadline = time.monotonic() + latency_ms / 1000
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, DISCONNECT_POLL_SECONDS))
        if await request.is_disconnected():
            return


def _error(status: int, message: str, type_: str, code: str | None = None) -> JSONResponse:
    payload = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(payload, status_code=status)


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + demo.dumps(data) + b"\n\n"


def create_app(
    *,
    latency_ms: float = 0,
    token_delay_ms: float = 0,
    fail_status: int | None = None,
    omit_usage: bool = False,
    api_key: str | None = None,
    break_after_chunks: int | None = None,
) -> Starlette:
    """The mock upstream app. `break_after_chunks` drops the connection mid-stream
    after that many chunks, as a crashing upstream would."""
    state = MockState()
    expected_auth = f"Bearer {api_key}" if api_key else None

    async def chat_completions(request: Request) -> Response:
        if expected_auth is not None and request.headers.get("authorization") != expected_auth:
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.", "invalid_request_error")
        state.remember(body, dict(request.headers))
        state.served.received += 1
        if latency_ms:
            await wait_before_answering(request, latency_ms)
        if (status := state.failing(fail_status)) is not None:
            return _error(status, f"The mock upstream fails with {status}.", "server_error")
        model = body.get("model")
        model = model if isinstance(model, str) else DEMO_MODEL

        if not body.get("stream"):
            data = demo.completion(body, model)
            usage = data["usage"]
            state.served.add(
                ServedCall(
                    _user(body), False, usage["prompt_tokens"], usage["completion_tokens"], True
                )
            )
            if omit_usage:
                data.pop("usage", None)
            return Response(demo.dumps(data), media_type="application/json")

        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        # Usage is always computed, so what was served is known; `omit_usage` only
        # keeps it off the wire.
        chunks = demo.chunks(body, model, include_usage=True)
        if not (include_usage and not omit_usage):
            chunks, billed = chunks[:-1], chunks
        else:
            billed = chunks
        if not token_delay_ms and break_after_chunks is None:
            # Nothing to pace: one write of the whole event stream is what a client
            # could not tell apart, and several times faster for the benchmark.
            state.streams.started += 1
            state.streams.finished += 1
            state.served.add(_served_stream(body, billed, len(billed), True))
            payload = b"".join(_sse(chunk) for chunk in chunks) + DONE
            return Response(payload, media_type="text/event-stream")
        return StreamingResponse(_stream(body, chunks, billed), media_type="text/event-stream")

    async def _stream(
        body: dict[str, Any], chunks: list[dict[str, Any]], billed: list[dict[str, Any]]
    ) -> AsyncIterator[bytes]:
        state.streams.started += 1
        done = False
        sent = 0
        try:
            for i, chunk in enumerate(chunks):
                if token_delay_ms and i:
                    await asyncio.sleep(token_delay_ms / 1000)
                if break_after_chunks is not None and i >= break_after_chunks:
                    raise BrokenStream(f"the mock upstream breaks after {i} chunks")
                yield _sse(chunk)
                sent += 1
            yield DONE
            done = True
        finally:
            if done:
                state.streams.finished += 1
            else:
                state.streams.aborted += 1
            if sent:
                finished = done or sent == len(chunks)
                state.served.add(
                    _served_stream(body, billed, len(billed) if finished else sent, finished)
                )

    async def embeddings_endpoint(request: Request) -> Response:
        """OpenAI's /v1/embeddings with the demo model's deterministic vectors."""
        if expected_auth is not None and request.headers.get("authorization") != expected_auth:
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.", "invalid_request_error")
        state.remember(body, dict(request.headers))
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        if (status := state.failing(fail_status)) is not None:
            return _error(status, f"The mock upstream fails with {status}.", "server_error")
        refusal = vectors.refusal(body)
        if refusal is not None:
            payload = {"message": refusal[1], "type": "invalid_request_error", "param": refusal[0]}
            return JSONResponse({"error": {**payload, "code": None}}, status_code=400)
        model = body.get("model")
        data = vectors.answer(body, model if isinstance(model, str) else DEMO_MODEL)
        if omit_usage:
            data.pop("usage", None)
        return Response(demo.dumps(data), media_type="application/json")

    def serve_responses(user: str, stream: bool, prompt: int, completion: int) -> None:
        state.served.add(ServedCall(user, stream, prompt, completion, True))

    responses = ResponsesEndpoint(serve_responses)

    async def responses_endpoint(request: Request) -> Response:
        """OpenAI's /v1/responses (openai_responses.py), plain and streaming."""
        if expected_auth is not None and request.headers.get("authorization") != expected_auth:
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.", "invalid_request_error")
        state.remember(body, dict(request.headers))
        state.served.received += 1
        if (status := state.failing(fail_status)) is not None:
            return _error(status, f"The mock upstream fails with {status}.", "server_error")
        return await responses(request, body)

    async def served(request: Request) -> Response:
        return JSONResponse(state.served.to_json())

    async def models(request: Request) -> Response:
        entry = {"id": DEMO_MODEL, "object": "model", "created": 0, "owned_by": "tollgate"}
        return JSONResponse({"object": "list", "data": [entry]})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/embeddings", embeddings_endpoint, methods=["POST"]),
            Route("/v1/responses", responses_endpoint, methods=["POST"]),
            Route("/_served", served, methods=["GET"]),
        ]
    )
    app.state.mock = state
    app.state.requests = state.requests
    return app


def _uvicorn_config(app: Starlette, **kwargs: Any) -> uvicorn.Config:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:
        http = "h11"
    return uvicorn.Config(
        app, loop=loop, http=http, access_log=False, log_level="warning", lifespan="off", **kwargs
    )


def run(host: str, port: int, **options: Any) -> None:
    """Serve the OpenAI-compatible mock upstream until interrupted."""
    serve(create_app(**options), host, port)


def serve(app: Starlette, host: str, port: int) -> None:
    """Serve a mock app (any of the three formats) until interrupted."""
    uvicorn.Server(_uvicorn_config(app, host=host, port=port)).run()


class MockUpstream:
    """The mock upstream on a free local port, served from a background thread."""

    def __init__(self, app: Starlette | None = None, **options: Any) -> None:
        """Serve `app`, or the OpenAI-compatible mock made with `options`."""
        self.app = app if app is not None else create_app(**options)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def state(self) -> MockState:
        state: MockState = self.app.state.mock
        return state

    def start(self, timeout: float = 10.0) -> MockUpstream:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock upstream did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> MockUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
