"""Every answer of the gateway carries its request id, errors included.

    app = Starlette(middleware=[Middleware(RequestIds), ...])
    request_id = request_id_of(request)    # in a route: the id the answer will carry

`RequestIds` (the outermost of the app's middleware) gives each HTTP request an id of
its own, `req_` and 32 hex digits, before any route runs, and sets it on the answer's
`x-request-id` (what the OpenAI SDKs read as `request_id`) and `x-tollgate-request-id`
headers, whatever answered: a route, a 404 or 405 of the router, a refusal at the
door. A call that reaches the router is recorded under the same id, so the header
leads to the call's ledger row. An unhandled error's 500 is answered outside every
middleware (Starlette's ServerErrorMiddleware), so its handler sets the headers
itself from `request_id_of`.

A client's own `x-request-id` is never taken as ours (ids name ledger rows, and a
client must not choose them); a sane one is echoed as `x-client-request-id`."""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "tollgate.request_id"
REQUEST_ID = "x-request-id"
TOLLGATE_REQUEST_ID = "x-tollgate-request-id"
CLIENT_REQUEST_ID = "x-client-request-id"
_REQUEST_ID, _TOLLGATE_REQUEST_ID, _CLIENT_REQUEST_ID = (
    name.encode() for name in (REQUEST_ID, TOLLGATE_REQUEST_ID, CLIENT_REQUEST_ID)
)
_IDS = frozenset({_REQUEST_ID, _TOLLGATE_REQUEST_ID})
_IDS_AND_CLIENT_ID = _IDS | {_CLIENT_REQUEST_ID}
# What a client's id may be to be echoed: visible ASCII, not too long.
_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,128}")


def new_request_id() -> str:
    return "req_" + os.urandom(16).hex()  # uuid4's randomness, without its object


def request_id_of(request: Request | MutableMapping[str, Any]) -> str:
    """The request's id (set by `RequestIds`); one is made and kept in the scope when
    the app runs without the middleware, so a request still has one id throughout."""
    scope = request.scope if isinstance(request, Request) else request
    request_id = scope.get(SCOPE_KEY)
    if not isinstance(request_id, str):
        request_id = scope[SCOPE_KEY] = new_request_id()
    return request_id


def id_headers(request_id: str) -> dict[str, str]:
    return {REQUEST_ID: request_id, TOLLGATE_REQUEST_ID: request_id}


def _client_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID.encode():
            given = value.decode("latin-1")
            return given if _CLIENT_ID.fullmatch(given) else None
    return None


class RequestIds:
    """ASGI middleware: an id for every HTTP request, on every answer's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope[SCOPE_KEY] = new_request_id()
        client_id = _client_id(scope)

        ids = [(_REQUEST_ID, request_id.encode()), (_TOLLGATE_REQUEST_ID, request_id.encode())]
        ours = _IDS
        if client_id is not None:
            ids.append((_CLIENT_REQUEST_ID, client_id.encode()))
            ours = _IDS_AND_CLIENT_ID

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Ours replace a route's own, should it differ (names are lower case:
                # Starlette's responses and MutableHeaders write them so).
                headers = [h for h in message.get("headers", ()) if h[0] not in ours]
                message["headers"] = headers + ids
            await send(message)

        await self.app(scope, receive, send_with_id)
