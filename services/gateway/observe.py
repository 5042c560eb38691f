"""Every HTTP request the gateway answers is counted, timed and logged once.

    app = Starlette(middleware=[Middleware(RequestIds), Middleware(Observe), ...])
    observe.note_caller(caller)     # the gate, once the key is known
    observe.note_served(served)     # the relay: what served, how long the upstream took
    observe.note_usage(usage)       # the relay: the usage the router recorded

`Observe` (just inside `RequestIds`, so every front door, the admin API and a 404 are
covered alike) gives each request a `CallNote` in a context variable; the gate and the
relay fill it in as they learn who called and what served, and when the answer's last
byte is sent the note becomes the request's metrics (metrics.py) and its one access
line on the `tollgate.access` logger. Every line logged while the request is handled
carries its request id. The hooks are attribute writes: nothing on the request path
waits for them.

The access line names the route, status, latency, project, key id, the model asked
(cut to 128 printable characters) and served, provider, tokens and whether the cache
answered; never a key's secret or a header. The call's cost is settled later, by
Metering: its ledger row, under the same request id, has it.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway import metrics
from services.gateway.caller import Caller
from tollgate.observability import logs
from tollgate.observability.metrics import child
from tollgate.v1 import common_pb2, router_pb2

access_log = logging.getLogger("tollgate.access")

REQUEST_ID_KEY = "tollgate.request_id"  # where RequestIds keeps the id in the scope
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
QUIET_ROUTES = frozenset({"/healthz"})  # probes: counted, never logged
MAX_MODEL_CHARS = 128


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:MAX_MODEL_CHARS])


@dataclass
class CallNote:
    """What the gateway learnt about one HTTP request while answering it."""

    scope: Scope
    project_id: str = ""
    key_id: str = ""
    model_asked: str = ""
    model_served: str = ""
    provider: str = ""
    cache_hit: bool = False
    upstream_ms: int | None = None  # set when the router said what served
    usage: common_pb2.Usage | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def request_id(self) -> str | None:
        value = self.scope.get(REQUEST_ID_KEY)
        return value if isinstance(value, str) else None


_NOTE: ContextVar[CallNote | None] = ContextVar("tollgate_gateway_call", default=None)


def note_caller(caller: Caller) -> None:
    note = _NOTE.get()
    if note is not None:
        note.project_id, note.key_id = caller.project_id, caller.key_id


def note_model(model: str) -> None:
    note = _NOTE.get()
    if note is not None:
        note.model_asked = model


def note_served(served: router_pb2.Served) -> None:
    note = _NOTE.get()
    if note is not None:
        note.model_served, note.provider = served.model, served.provider
        note.cache_hit = served.cache_hit
        note.upstream_ms = served.upstream_ms


def note_usage(usage: common_pb2.Usage | None) -> None:
    note = _NOTE.get()
    if note is not None and usage is not None:
        note.usage = usage


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return route.path if isinstance(route, BaseRoute) and hasattr(route, "path") else UNMATCHED


class Observe:
    """ASGI middleware: a CallNote per request; metrics and an access line at its end."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note = CallNote(scope)
        note_token = _NOTE.set(note)
        log_token = logs.bind(note)
        status = 500  # unless an answer starts: an unhandled error's, outside us
        first_byte: float | None = None

        async def observed(message: Message) -> None:
            nonlocal status, first_byte
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif first_byte is None and message["type"] == "http.response.body":
                first_byte = time.perf_counter()
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, observed)
        finally:
            metrics.IN_FLIGHT.dec()
            try:
                _finish(note, str(scope.get("method", "")), status, first_byte)
            except Exception:  # counting must never fail an answer
                logging.getLogger(__name__).exception("observing a request failed")
            logs.unbind(log_token)
            _NOTE.reset(note_token)


def _finish(note: CallNote, method: str, status: int, first_byte: float | None) -> None:
    seconds = time.perf_counter() - note.started
    route = _route_of(note.scope)
    method = method if method in METHODS else "OTHER"
    child(metrics.REQUESTS, route, method, str(status), note.model_served).inc()
    child(metrics.REQUEST_SECONDS, route).observe(seconds)
    added_ms: int | None = None
    if first_byte is not None and note.upstream_ms is not None:
        to_first = first_byte - note.started
        child(metrics.FIRST_BYTE_SECONDS, route, note.model_served).observe(to_first)
        added = max(to_first - note.upstream_ms / 1000, 0.0)
        child(metrics.ADDED_SECONDS, route).observe(added)
        added_ms = round(added * 1000)
    if route not in QUIET_ROUTES:
        _access_line(note, route, method, status, seconds, added_ms)


def _access_line(
    note: CallNote, route: str, method: str, status: int, seconds: float, added_ms: int | None
) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields: dict[str, Any] = {
        "route": route,
        "method": method,
        "status": status,
        "latency_ms": round(seconds * 1000, 1),
    }
    words = [f"{method} {route} {status} {fields['latency_ms']}ms"]
    if note.project_id:
        fields |= {"project": note.project_id, "key_id": note.key_id}
        words.append(f"project={note.project_id} key={note.key_id}")
    if note.model_asked:
        fields["model"] = _printable(note.model_asked)
        words.append(f"model={fields['model']}")
    if note.model_served:
        fields |= {"model_served": note.model_served, "provider": note.provider}
        fields |= {"cache_hit": note.cache_hit, "upstream_ms": note.upstream_ms}
        words.append(f"served={note.provider}/{note.model_served}")
    if added_ms is not None:
        fields["added_ms"] = added_ms
    if note.usage is not None:
        fields |= {
            "prompt_tokens": note.usage.prompt_tokens,
            "completion_tokens": note.usage.completion_tokens,
        }
        words.append(f"tokens={note.usage.prompt_tokens}+{note.usage.completion_tokens}")
    # makeRecord and handle, as Logger.info does less its walk up the stack for the
    # caller's file and line, which the access line never shows.
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        " ".join(words),
        (),
        None,
        extra={"fields": fields},
    )
    access_log.handle(record)
