"""Who may see what on the dashboard, and the headers every dashboard answer carries.

An operator sees every project; a project's viewer sees its own and nothing else: a
data route naming any other project (by name or id) is a 404, exactly as if it did
not exist. A viewer's key is checked against Budget at most every few seconds: once
revoked, expired, or rotated past the grace of the secret the session began with, its
session is over (401). State changes (sign-in, sign-out) are POSTs with a
JSON body from the page's own origin; with the SameSite=Strict cookie that leaves a
cross-site request nothing to ride on."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from services.gateway.admin.common import operator_call
from services.gateway.dashboard.session import Role, Session, Sessions, clear_cookie
from services.gateway.errors import ApiError
from services.gateway.validation import text
from tollgate.v1 import budget_pb2, budget_pb2_grpc

Handler = Callable[[Request], Awaitable[Response]]
SessionHandler = Callable[[Request, Session], Awaitable[Response]]

# Scripts, styles, images and fetches from the gateway itself only; no inline script,
# no framing, no plugin, no form posted elsewhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
KEY_CHECK_SECONDS = 5.0
ACTIVE = (budget_pb2.KEY_STATUS_ACTIVE, budget_pb2.KEY_STATUS_PAUSED)


def not_found() -> ApiError:
    return ApiError(404, "No such project.", code="not_found")


def signed_out() -> ApiError:
    return ApiError(401, "Sign in to the dashboard.", code="invalid_session")


def secured(handler: Handler) -> Handler:
    """`handler` with the dashboard's headers on every answer, errors included."""

    async def wrapped(request: Request) -> Response:
        try:
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
            if exc.status == 401:
                clear_cookie(response, request)
        response.headers.update(HEADERS)
        response.headers.setdefault("cache-control", "no-store")
        return response

    return wrapped


def same_origin(request: Request) -> None:
    """A state change must come from the page: JSON, and from this origin if named."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, "Send JSON (Content-Type: application/json).", param="content-type")
    origin = request.headers.get("origin")
    # The host only: behind a proxy that ends TLS the page's https origin reaches an
    # http listener, still the same site.
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError(403, "Cross-origin requests are refused.", type="permission_error")


def _instant(text: str) -> float:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _rotated_away(key: budget_pb2.ApiKey, session: Session) -> bool:
    """The key's secret was rotated after the session began, and the secret it began
    with is past its grace: the session goes with the old secret."""
    if not key.HasField("rotated_at") or _instant(key.rotated_at) <= session.issued:
        return False
    grace = key.previous_expires_at if key.HasField("previous_expires_at") else ""
    return not grace or _instant(grace) <= time.time()


@dataclass
class Access:
    sessions: Sessions
    budget: budget_pb2_grpc.BudgetStub  # blocking, for the admin RPCs
    _checked: dict[str, float] = field(default_factory=dict)

    async def session(self, request: Request) -> Session:
        """The request's session, or a 401; a viewer's key must still be in force."""
        session = self.sessions.read(request)
        if session is None:
            raise signed_out()
        if session.role is Role.PROJECT:
            await self._key_in_force(session)
        return session

    async def _key_in_force(self, session: Session) -> None:
        now = time.monotonic()
        if now - self._checked.get(session.sid, -KEY_CHECK_SECONDS) < KEY_CHECK_SECONDS:
            return
        listed = await operator_call(
            self.budget.ListKeys, budget_pb2.ProjectRef(project=session.project_id)
        )
        key = next((k for k in listed.keys if k.id == session.key_id), None)
        if key is None or key.status not in ACTIVE or _rotated_away(key, session):
            self.sessions.end(session)
            raise signed_out()
        if len(self._checked) > 10_000:
            self._checked.clear()
        self._checked[session.sid] = now

    def project_of(self, request: Request, session: Session) -> str:
        """The project the path names, as the RPCs take it: a viewer's own, or a 404."""
        named = text(request.path_params.get("name", ""), "name", required=True)
        if session.role is Role.PROJECT:
            if named not in (session.project_id, session.project):
                raise not_found()
            return session.project_id
        return named

    def signed_in(self, handler: SessionHandler, *, operator: bool = False) -> Handler:
        """A data route: a session is required (401), an operator's when `operator`
        (a viewer is answered 404, as if the route named nothing it may see)."""

        async def wrapped(request: Request) -> Response:
            session = await self.session(request)
            if operator and session.role is not Role.OPERATOR:
                raise not_found()
            return await handler(request, session)

        return secured(wrapped)
