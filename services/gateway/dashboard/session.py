"""Dashboard sessions: who signed in, carried in one signed, HttpOnly cookie.

The cookie holds no secret: it names the role (operator, or one project's viewer),
the project and key for a viewer, a random session id and an expiry, signed with
HMAC-SHA256. The signing key is derived from the admin token when there is one, so
every gateway replica accepts every other's sessions and changing the token ends them
all; without an admin token it is random to the process. JavaScript never sees the
cookie (HttpOnly), another site never sends it (SameSite=Strict) and only /dashboard
receives it (Path). Signing out forgets the session id in this process and clears the
cookie; a viewer's session also ends as soon as its key is revoked (see access.py)."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "tollgate_dashboard"
PATH = "/dashboard"
LIFETIME_SECONDS = 12 * 3600
MAX_COOKIE_CHARS = 1024


class Role(enum.StrEnum):
    OPERATOR = "operator"
    PROJECT = "project"


@dataclass(frozen=True)
class Session:
    role: Role
    sid: str
    expires: int  # unix seconds
    issued: float = 0.0  # unix seconds, to the millisecond
    project_id: str = ""  # a project viewer's project, and its key
    project: str = ""
    key_id: str = ""

    def public(self) -> dict[str, object]:
        """What the page may know of its session (never a secret)."""
        shown: dict[str, object] = {"role": self.role.value, "expires": self.expires}
        if self.role is Role.PROJECT:
            shown |= {"project": self.project, "project_id": self.project_id}
        return shown


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Issues and checks session cookies; remembers signed-out ids until they expire."""

    def __init__(self, admin_token: str) -> None:
        seed = admin_token.encode("utf-8", "surrogateescape") if admin_token else b""
        self._key = (
            hashlib.sha256(b"tollgate dashboard session\x00" + seed).digest()
            if seed
            else secrets.token_bytes(32)
        )
        self._ended: dict[str, int] = {}

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, role: Role, **fields: str) -> tuple[Session, str]:
        now = time.time()
        session = Session(
            role=role,
            sid=secrets.token_urlsafe(16),
            expires=int(now) + LIFETIME_SECONDS,
            issued=round(now, 3),
            **fields,
        )
        body = {
            "r": role.value,
            "s": session.sid,
            "e": session.expires,
            "i": session.issued,
            "p": session.project_id,
            "n": session.project,
            "k": session.key_id,
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return session, f"{payload}.{self._sign(payload)}"

    def read(self, request: Request) -> Session | None:
        """The request's valid session, or None (absent, forged, expired, signed out)."""
        value = request.cookies.get(COOKIE, "")
        if not value or len(value) > MAX_COOKIE_CHARS or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            body = json.loads(_unb64(payload))
            session = Session(
                role=Role(body["r"]),
                sid=str(body["s"]),
                expires=int(body["e"]),
                issued=float(body["i"]),
                project_id=str(body["p"]),
                project=str(body["n"]),
                key_id=str(body["k"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= time.time() or session.sid in self._ended:
            return None
        return session

    def end(self, session: Session) -> None:
        now = time.time()
        self._ended = {sid: t for sid, t in self._ended.items() if t > now}
        self._ended[session.sid] = session.expires


def set_cookie(response: Response, value: str, request: Request) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=LIFETIME_SECONDS,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path=PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
