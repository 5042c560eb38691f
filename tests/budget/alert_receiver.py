"""A webhook receiver on 127.0.0.1 for the alert tests: records every POST and answers
from a per-path script (status codes, then 200 for ever)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Received:
    path: str
    query: str
    body: Any
    at: float


@dataclass
class Receiver:
    base: str
    received: list[Received] = field(default_factory=list)
    # path -> answers still to give: (status, json body); afterwards 200 {"errcode": 0}
    script: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    import time

    state = Receiver(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            parts = urlsplit(self.path)
            with state.lock:
                state.received.append(
                    Received(parts.path, parts.query, json.loads(raw), time.monotonic())
                )
                answers = state.script.get(parts.path) or []
                status, answer = (
                    answers.pop(0) if answers else (200, {"errcode": 0, "errmsg": "ok"})
                )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
