"""The HTTP server's guards, with raw sockets against a live uvicorn server running
the gateway's protocol and body-timeout middleware on short timeouts: half-sent
headers get a 408 and are closed, a trickled body gets a 408, connections past the
cap are closed at once, and a well-behaved keep-alive connection is untouched. On a
recording connection: a whole answer leaves in one send, a stream's head does not
wait for a late first chunk, and 100 Continue is not held back."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.server import ServerState

from services.gateway.errors import ApiError
from services.gateway.http_server import BodyTimeout, HttpLimits, SettingError, protocol_for
from tests.e2e.suite import free_port

LIMITS = HttpLimits(header_timeout_seconds=0.5, body_timeout_seconds=0.5, max_connections=20)


async def echo(request: Request) -> Response:
    try:
        body = await request.body()
    except ApiError as exc:
        return exc.response()
    return JSONResponse({"bytes": len(body)})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    app = Starlette(
        routes=[Route("/echo", echo, methods=["POST"])],
        middleware=[Middleware(BodyTimeout, seconds=LIMITS.body_timeout_seconds)],
    )
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=protocol_for(LIMITS),
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    return conn


def read_all(conn: socket.socket) -> bytes:
    """Everything until the server closes the connection (fails after 5 s)."""
    chunks = []
    try:
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:  # closed with our unread request in its buffer
        pass
    return b"".join(chunks)


def test_half_sent_headers_get_a_408_and_are_closed(port: int) -> None:
    conn = connect(port)
    started = time.monotonic()
    conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le")
    reply = read_all(conn)
    assert reply.startswith(b"HTTP/1.1 408")
    assert b'"code": "request_timeout"' in reply
    head = reply.partition(b"\r\n\r\n")[0].decode().split("\r\n")[1:]
    headers = dict(line.split(": ", 1) for line in head)
    assert re.fullmatch(r"req_[0-9a-f]{32}", headers["x-request-id"])
    assert headers["x-tollgate-request-id"] == headers["x-request-id"]
    assert 0.4 < time.monotonic() - started < 3


def test_a_silent_connection_is_closed_after_the_header_timeout(port: int) -> None:
    conn = connect(port)
    started = time.monotonic()
    read_all(conn)
    assert time.monotonic() - started < 3


def test_a_trickled_body_gets_a_408(port: int) -> None:
    conn = connect(port)
    conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
    started = time.monotonic()
    time.sleep(0.1)
    conn.sendall(b"c")  # then nothing for longer than the body timeout
    reply = read_all(conn)
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert time.monotonic() - started < 3


def test_connections_past_the_cap_are_closed(port: int) -> None:
    held = [connect(port) for _ in range(LIMITS.max_connections)]
    time.sleep(0.2)
    extra = connect(port)
    extra.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert read_all(extra) == b""  # closed without an answer
    for conn in held:
        conn.close()


def test_a_keep_alive_connection_serves_request_after_request(port: int) -> None:
    conn = connect(port)
    for _ in range(3):
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        reply = b""
        while not reply.endswith(b'{"bytes":2}'):
            chunk = conn.recv(65536)
            assert chunk, reply  # the server must not close a keep-alive connection
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")
        time.sleep(0.3)  # idle between requests, within uvicorn's keep-alive
    conn.close()


def test_settings_are_read_and_checked() -> None:
    env = {"TOLLGATE_HTTP_HEADER_TIMEOUT_SECONDS": "3", "TOLLGATE_HTTP_MAX_CONNECTIONS": "50"}
    assert HttpLimits.from_env(env) == HttpLimits(3.0, 10.0, 50)
    with pytest.raises(SettingError, match="TOLLGATE_HTTP_BODY_TIMEOUT_SECONDS"):
        HttpLimits.from_env({"TOLLGATE_HTTP_BODY_TIMEOUT_SECONDS": "0"})


class Recorder(asyncio.Transport):
    """A connection that keeps what the server writes, one item a write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def answer_of(app: Any, request: bytes, transport: Recorder) -> list[bytes]:
    """`request` through the gateway's protocol on a recording connection, until the
    app is done with it: what the server wrote, one item a write."""
    return asyncio.run(_answer(app, request, transport))


async def _answer(app: Any, request: bytes, transport: Recorder) -> list[bytes]:
    config = uvicorn.Config(app, http=protocol_for(LIMITS), lifespan="off", log_config=None)
    protocol = protocol_for(LIMITS)(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(transport)
    protocol.data_received(request)
    await asyncio.gather(*protocol.tasks)
    protocol.connection_lost(None)
    return transport.writes


def test_a_whole_answer_leaves_in_one_send() -> None:
    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
    writes = answer_of(app, request, Recorder())
    assert len(writes) == 1, writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b'\r\n\r\n{"bytes":2}')


def test_a_stream_s_head_leaves_without_waiting_for_its_first_chunk() -> None:
    transport = Recorder()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.05)  # the first chunk is not ready in this turn of the loop
        assert transport.writes and transport.writes[0].startswith(b"HTTP/1.1 200")
        await send({"type": "http.response.body", "body": b"late"})

    writes = answer_of(slow, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", transport)
    assert len(writes) == 2, writes
    assert writes[1] == b"4\r\nlate\r\n0\r\n\r\n"


def test_100_continue_is_not_held_back() -> None:
    transport = Recorder()

    async def read_then_answer(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    request = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
    writes = answer_of(read_then_answer, request, transport)
    assert writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(writes) == 2 and writes[1].startswith(b"HTTP/1.1 200 OK"), writes
