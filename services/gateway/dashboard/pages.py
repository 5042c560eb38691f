"""The dashboard's page, its files, and signing in and out.

    GET  /dashboard                      the page (one HTML file; it signs in itself)
    GET  /dashboard/static/{name}        its script, style and the vendored chart library
    POST /dashboard/api/signin           {"token": admin token or project key} -> cookie
    POST /dashboard/api/signout          ends the session, clears the cookie
    GET  /dashboard/api/session          who is signed in (401 when nobody)

Every file is inside the package (no CDN): the page works offline."""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from services.gateway.admin.common import same_secret
from services.gateway.auth import KeyCache
from services.gateway.dashboard.access import Access, same_origin, secured
from services.gateway.dashboard.session import Role, clear_cookie, set_cookie
from services.gateway.errors import ApiError, bad_request
from services.gateway.validation import parse_json, text
from tollgate.keys import PREFIX

STATIC = Path(__file__).parent / "static"
# name -> media type: nothing else under static/ is served.
FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "vendor/chart.umd.min.js": "text/javascript; charset=utf-8",
}
MAX_SIGNIN_BYTES = 4096


class SignInGuard:
    """At most FAILURES failed sign-ins a client address in WINDOW_SECONDS, then a 429
    until the oldest leaves the window: the sign-in is no faster an oracle for the
    admin token or a key than it must be."""

    FAILURES = 10
    WINDOW_SECONDS = 60.0
    MAX_ADDRESSES = 10_000

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, where: str) -> deque[float]:
        seen = self._failures.get(where, deque())
        while seen and seen[0] <= time.monotonic() - self.WINDOW_SECONDS:
            seen.popleft()
        return seen

    def check(self, where: str) -> None:
        seen = self._recent(where)
        if len(seen) >= self.FAILURES:
            wait = max(1, math.ceil(seen[0] + self.WINDOW_SECONDS - time.monotonic()))
            raise ApiError(
                429,
                f"Too many failed sign-ins; try again in {wait} s.",
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"retry-after": str(wait)},
            )

    def failed(self, where: str) -> None:
        if len(self._failures) >= self.MAX_ADDRESSES:
            self._failures.clear()
        seen = self._recent(where)
        seen.append(time.monotonic())
        self._failures[where] = seen


async def _bounded_body(request: Request) -> bytes:
    """The body, refused (413) as soon as it passes MAX_SIGNIN_BYTES."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_SIGNIN_BYTES:
            raise ApiError(413, "The sign-in body is too large.", param="token")
    return bytes(raw)


def routes(access: Access, keys: KeyCache, admin_token: str) -> list[Route]:
    guard = SignInGuard()

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in FILES:
            raise ApiError(404, "No such file.", code="not_found")
        return FileResponse(
            STATIC / name, media_type=FILES[name], headers={"cache-control": "no-cache"}
        )

    async def signin(request: Request) -> Response:
        same_origin(request)
        where = request.client.host if request.client else ""
        guard.check(where)
        body = parse_json(await _bounded_body(request))
        if set(body) - {"token"}:
            field = sorted(set(body) - {"token"})[0]
            raise bad_request(f"Unknown field '{field}'.", param=field)
        token = text(body.get("token"), "token", required=True).strip()
        try:
            if admin_token and same_secret(token, admin_token):
                session, value = access.sessions.issue(Role.OPERATOR)
            elif token.startswith(PREFIX):
                caller = await keys.resolve(token)  # a 401 for an unknown or revoked key
                session, value = access.sessions.issue(
                    Role.PROJECT, project_id=caller.project_id, project=caller.project,
                    key_id=caller.key_id,
                )  # fmt: skip
            else:
                raise ApiError(401, "Not an admin token or a project key.", code="invalid_api_key")
        except ApiError as refused:
            if refused.status == 401:
                guard.failed(where)
            raise
        response = JSONResponse(session.public())
        set_cookie(response, value, request)
        return response

    async def signout(request: Request) -> Response:
        same_origin(request)
        session = access.sessions.read(request)
        if session is not None:
            access.sessions.end(session)
        response = JSONResponse({"signed_out": True})
        clear_cookie(response, request)
        return response

    async def who(request: Request) -> Response:
        session = await access.session(request)  # a viewer's revoked key ends it too
        return JSONResponse(session.public())

    return [
        Route("/dashboard", secured(page), methods=["GET"]),
        Route("/dashboard/static/{name:path}", secured(static), methods=["GET"]),
        Route("/dashboard/api/signin", secured(signin), methods=["POST"]),
        Route("/dashboard/api/signout", secured(signout), methods=["POST"]),
        Route("/dashboard/api/session", secured(who), methods=["GET"]),
    ]
