"""The dashboard's sessions and JSON routes, served in-process over the real Budget and
Metering (`services`, SQLite and PostgreSQL): no session is a 401 on every data route;
a project's viewer naming another project (by name or id) gets a 404 on every one;
the session cookie is HttpOnly, SameSite=Strict and scoped to /dashboard, cannot be
forged, ends at sign-out and when its key is revoked; sign-in takes JSON from the
page's own origin only; every answer carries the CSP and refuses framing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie

import grpc
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from services.budget.admin import operations as admin
from services.budget.admin.keys import rotate_key
from services.gateway.auth import KeyCache
from services.gateway.dashboard import dashboard_routes
from services.gateway.dashboard.session import COOKIE
from tests.metering.services import Services
from tollgate.grpcutil import InternalCredential, aio_channel
from tollgate.v1 import metering_pb2_grpc

TOKEN = "admin-token-of-the-dashboard-tests"
PROJECT_ROUTES = ("summary", "series", "breakdown", "calls", "alerts")
DATA_ROUTES = (
    "/dashboard/api/session",
    "/dashboard/api/projects",
    "/dashboard/api/audit",
    *(f"/dashboard/api/projects/acme/{name}" for name in PROJECT_ROUTES),
)


@dataclass
class Console:
    http: TestClient
    services: Services
    acme_secret: str  # a key of acme
    other_id: str  # the project "other"


@pytest.fixture
def console(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    for name in [n for n in os.environ if n.startswith("TOLLGATE_")]:
        monkeypatch.delenv(name)
    engine = services.engine
    acme_secret = admin.create_key(engine, "acme", name="viewer").secret
    other_id = admin.create_project(engine, "other").id
    admin.create_key(engine, "other")

    async def dial() -> grpc.aio.Channel:
        return aio_channel(services.addr, InternalCredential(services.token))

    app = Starlette()
    with TestClient(app, base_url="http://testserver") as http:
        channel = http.portal.call(dial)
        app.router.routes.extend(
            dashboard_routes(
                KeyCache(engine),
                TOKEN,
                metering=metering_pb2_grpc.MeteringStub(channel),
                budget=services.budget,
            )
        )
        yield Console(http, services, acme_secret, other_id)
        http.portal.call(channel.close)


def sign_in(http: TestClient, token: str) -> dict[str, object]:
    reply = http.post("/dashboard/api/signin", json={"token": token})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _set_cookie(reply: object) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in reply.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        jar.load(header)
    return jar


def issued(reply: object) -> str:
    """The session cookie a reply sets ("" when none, or when it clears one)."""
    morsel = _set_cookie(reply).get(COOKIE)
    return morsel.value if morsel is not None else ""


def test_no_session_is_a_401_on_every_data_route(console: Console) -> None:
    for path in DATA_ROUTES:
        reply = console.http.get(path)
        assert reply.status_code == 401, path
        assert reply.json()["error"]["code"] == "invalid_session"
        assert reply.headers["x-frame-options"] == "DENY"


def test_a_forged_or_tampered_cookie_is_no_session(console: Console) -> None:
    http = console.http
    sign_in(http, console.acme_secret)
    value = http.cookies[COOKIE]
    payload, signature = value.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for bad in (f"{forged}.{signature}", f"{payload}.{signature[:-1]}x", "x", "a.b.c", "." * 2000):
        http.cookies.clear()
        http.cookies.set(COOKIE, bad, path="/dashboard")
        assert http.get("/dashboard/api/session").status_code == 401, bad


def test_the_operator_cookie_is_httponly_strict_and_scoped(console: Console) -> None:
    reply = console.http.post("/dashboard/api/signin", json={"token": TOKEN})
    assert reply.status_code == 200 and reply.json()["role"] == "operator"
    morsel = _set_cookie(reply)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/dashboard"
    assert int(morsel["max-age"]) > 0
    assert TOKEN not in morsel.value  # the cookie holds no secret
    assert console.http.get("/dashboard/api/session").json()["role"] == "operator"
    listed = console.http.get("/dashboard/api/projects").json()["data"]
    assert {"acme", "other"} <= {p["name"] for p in listed}
    other = console.http.get("/dashboard/api/projects/other/summary")
    assert other.status_code == 200 and other.json()["bill"]["project"] == "other"
    assert console.http.get("/dashboard/api/projects/nobody/summary").status_code == 404
    audit = console.http.get("/dashboard/api/audit")
    assert audit.status_code == 200 and isinstance(audit.json()["data"], list)


def test_a_project_viewer_sees_its_own_project_only(console: Console) -> None:
    http = console.http
    session = sign_in(http, console.acme_secret)
    assert session == {
        "role": "project",
        "project": "acme",
        "project_id": console.services.project,
        "expires": session["expires"],
    }
    assert console.acme_secret not in http.cookies[COOKIE]
    for name in PROJECT_ROUTES:
        for own in ("acme", console.services.project):
            assert http.get(f"/dashboard/api/projects/{own}/{name}").status_code == 200, name
        for foreign in ("other", console.other_id, "nobody"):
            reply = http.get(f"/dashboard/api/projects/{foreign}/{name}")
            assert reply.status_code == 404, (name, foreign)
            assert "other" not in reply.text
    assert [p["name"] for p in http.get("/dashboard/api/projects").json()["data"]] == ["acme"]
    assert http.get("/dashboard/api/audit").status_code == 404  # operators only


def test_sign_in_refuses_wrong_tokens_other_origins_and_forms(console: Console) -> None:
    http = console.http
    for token in ("wrong", TOKEN + "x", "tg-not-a-key", ""):
        reply = http.post("/dashboard/api/signin", json={"token": token})
        assert reply.status_code in (400, 401), token
        assert issued(reply) == ""
    form = http.post("/dashboard/api/signin", data={"token": TOKEN})
    assert form.status_code == 415
    cross = http.post(
        "/dashboard/api/signin", json={"token": TOKEN}, headers={"origin": "http://evil.test"}
    )
    assert cross.status_code == 403 and issued(cross) == ""
    for origin in ("null", "http://testserver.evil.test", "http://testserver:81"):
        reply = http.post(
            "/dashboard/api/signin", json={"token": TOKEN}, headers={"origin": origin}
        )
        assert reply.status_code == 403, origin
    for origin in ("http://testserver", "https://testserver"):  # https: a TLS proxy's
        reply = http.post(
            "/dashboard/api/signin", json={"token": TOKEN}, headers={"origin": origin}
        )
        assert reply.status_code == 200, origin
    assert http.post("/dashboard/api/signin", json={"token": TOKEN, "x": 1}).status_code == 400
    huge = http.post(
        "/dashboard/api/signin",
        content=b'{"token": "' + b"x" * 10_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert http.get("/dashboard/api/signin").status_code == 405  # no state change by GET


def test_repeated_failed_sign_ins_are_held_off(console: Console) -> None:
    http = console.http
    for attempt in range(10):
        guess = http.post("/dashboard/api/signin", json={"token": f"guess-{attempt}"})
        assert guess.status_code == 401
    held = http.post("/dashboard/api/signin", json={"token": TOKEN})  # even the right one
    assert held.status_code == 429 and 1 <= int(held.headers["retry-after"]) <= 60
    assert issued(held) == ""
    huge = http.post(
        "/dashboard/api/signin",
        content=b'{"token": "' + b"x" * 10_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code in (413, 429)


def test_sign_out_ends_the_session_even_if_its_cookie_is_replayed(console: Console) -> None:
    http = console.http
    sign_in(http, TOKEN)
    value = http.cookies[COOKIE]
    reply = http.post("/dashboard/api/signout", json={})
    assert reply.status_code == 200
    cleared = _set_cookie(reply)[COOKIE]
    assert cleared.value == "" and cleared["path"] == "/dashboard"
    http.cookies.set(COOKIE, value, path="/dashboard")
    assert http.get("/dashboard/api/session").status_code == 401


def test_a_revoked_key_ends_its_viewers_session(console: Console) -> None:
    http = console.http
    created = admin.create_key(console.services.engine, "acme", name="soon-gone")
    sign_in(http, created.secret)
    assert http.get("/dashboard/api/projects/acme/summary").status_code == 200
    admin.revoke_key(console.services.engine, created.info.id)
    # The key is checked again within seconds (KEY_CHECK_SECONDS).
    deadline = time.monotonic() + 10
    status = 200
    while time.monotonic() < deadline and status == 200:
        status = http.get("/dashboard/api/projects/acme/summary").status_code
        time.sleep(0.25)
    assert status == 401


def _still_in(http: TestClient, seconds: float = 10) -> bool:
    """Whether the session is still accepted once the key check has run again."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if http.get("/dashboard/api/projects/acme/summary").status_code == 401:
            return False
        time.sleep(0.25)
    return True


def test_a_rotated_keys_old_secret_ends_its_session_after_the_grace(console: Console) -> None:
    engine = console.services.engine
    graced = admin.create_key(engine, "acme", name="graced")
    sign_in(console.http, graced.secret)
    rotate_key(engine, graced.info.id, grace_seconds=3600)
    assert _still_in(console.http, 6)  # the old secret still works for an hour

    gone = admin.create_key(engine, "acme", name="gone")
    console.http.cookies.clear()
    sign_in(console.http, gone.secret)
    fresh = rotate_key(engine, gone.info.id, grace_seconds=0)
    assert not _still_in(console.http)
    sign_in(console.http, fresh.secret)  # the new secret signs in again
    assert _still_in(console.http, 6)


def test_the_page_and_its_files_carry_a_strict_policy(console: Console) -> None:
    http = console.http
    page = http.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text and "http://" not in page.text.replace("http://www", "")
    for name in ("dashboard.js", "dashboard.css", "vendor/chart.umd.min.js"):
        served = http.get(f"/dashboard/static/{name}")
        assert served.status_code == 200 and served.headers["x-content-type-options"] == "nosniff"
    for name in ("../session.py", "index.html", "vendor/README.md", "%2e%2e/access.py", "x"):
        assert http.get(f"/dashboard/static/{name}").status_code == 404, name


def test_bad_query_values_are_400s_naming_the_field(console: Console) -> None:
    sign_in(console.http, TOKEN)
    for limit in ("0", "201", "-1", "x", "1" * 40):
        reply = console.http.get(f"/dashboard/api/projects/acme/calls?limit={limit}")
        assert reply.status_code == 400 and reply.json()["error"]["param"] == "limit"
