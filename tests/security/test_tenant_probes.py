"""Tenant probes (invariant 4): a key of project A tries everything of project B's.

The whole suite runs as separate processes, on SQLite and on PostgreSQL, with the
admin API on. B has a budget, two keys (one revoked), a few calls of every kind, a
stored response, a batch file and a finished batch behind it. Then A's key asks for
B's usage by name, id, key and end user, sends every header and field a client could
use to name another project (OpenAI's `OpenAI-Organization` and `OpenAI-Project`,
`x-tollgate-project`, `user`, `metadata`), calls every front door, asks for B's
response, files and batch by id (and names them as its previous response and its
batch's input), names B on the dashboard's data routes from A's own session, and
knocks on every /admin/ route. No answer to A may mention B's id, name, key ids, end
user, spend, prompt or holdings, in its body or its headers (a refusal may quote what
A itself sent); B's ledger rows, reservations, bill and holdings are the same
afterwards; every call A made is billed to A and to A's key alone. B's revoked key is
refused everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from services.gateway.admin import admin_routes
from tests.conftest import postgres_schema
from tests.e2e.suite import start_suite, stop_suite
from tests.security.tenant_doors import (
    probe_dashboard,
    probe_holdings,
    probe_new_calls,
    probe_revoked,
)
from tests.security.tenants import (
    ADMIN_TOKEN,
    B_USER,
    HI,
    LEDGER,
    NO_TENANT_DATA,
    Tenant,
    World,
    admin,
    keep,
    leaks,
    naming,
    probe,
    second_key,
    state_of,
    tenant,
    unreached,
    wait_ledger,
)

pytestmark = pytest.mark.e2e

# Where B's calls go, to leave a ledger row of every kind (and `keep` leaves 3 more).
B_CALLS = [
    ("/v1/chat/completions", {"model": "demo", "messages": HI, "user": B_USER}),
    ("/v1/chat/completions", {"model": "demo", "messages": HI, "user": B_USER, "stream": True}),
    ("/v1/embeddings", {"model": "demo-embedding", "input": "hello", "user": B_USER}),
    ("/v1/messages", {"model": "demo", "max_tokens": 50, "messages": HI,
                      "metadata": {"user_id": B_USER}}),
]  # fmt: skip
KEPT_ROWS = 3
ENV = {"TOLLGATE_ADMIN_TOKEN": ADMIN_TOKEN, "TOLLGATE_BATCH_POLL_SECONDS": "0.1"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    home = tmp_path_factory.mktemp(f"probes-{request.param}")
    database: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{home / 'tollgate.db'}")
        if request.param == "sqlite"
        else postgres_schema()
    )
    with database as url:
        suite = start_suite(home, url, extra_env=ENV)
        try:
            b = tenant(suite, "bravo-victim", monthly_budget="900")
            revoked = second_key(suite, b)
            with httpx.Client(base_url=suite.base_url.removesuffix("/v1")) as http:
                for path, body in B_CALLS:
                    reply = http.post(path, json=body, headers={"x-api-key": b.secret})
                    assert reply.status_code == 200, reply.text
            held = keep(suite, b)
            rows = len(B_CALLS) + KEPT_ROWS
            assert len(wait_ledger(suite, b.id, rows)) == rows
            with admin(suite) as api:
                assert api.post(f"/admin/keys/{revoked.key_id}/revoke").status_code == 200
            a = tenant(suite, "alpha-prober", currency="USD")
            yield World(suite, a, b, revoked, held, state_of(suite, b, held))
        finally:
            stop_suite(suite)


def usage_queries(b: Tenant) -> list[dict[str, str]]:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    month = today[:7]
    by_all = {"from": today, "to": today, "by": "project,key,user"}
    return [
        {},
        {"project": b.name},
        {"project": b.id},
        {"project_id": b.id, "key": b.key_id, "key_id": b.key_id, "user": B_USER},
        {"period": month},
        {"period": month, "project": b.id},
        by_all,
        {**by_all, "project": b.id},
        {**by_all, "project": b.name, "key": b.key_id, "user": B_USER},
        {"by": "user", "user": B_USER},
        {"from": "2000-01-01", "by": "project", "project": b.id},
    ]


def probe_usage(world: World, http: httpx.Client) -> None:
    a, b = world.a, world.b
    for params in usage_queries(b):
        for headers in naming(world):
            for auth in ({"Authorization": f"Bearer {a.secret}"}, {"x-api-key": a.secret}):
                label = f"GET /v1/usage {params} {headers}"
                reply = probe(world, http, label, "GET", "/v1/usage", params=params,
                              headers={**auth, **headers})  # fmt: skip
                assert reply.status_code == 200, (label, reply.text)
                shown = reply.json()
                assert shown["project"] == a.name, label
                # A has made no call yet: nothing to show, whatever was asked.
                assert shown.get("lines", []) == [], (label, shown)
                totals = shown["totals"] if "totals" in shown else [shown]
                assert all(t["requests"] == 0 for t in totals), (label, shown)


def probe_calls(world: World, http: httpx.Client) -> None:
    """Every front door, with every way of naming B; each call served is A's."""
    a, b = world.a, world.b
    metadata = {"project": b.id, "project_id": b.id, "organization": b.name, "user": B_USER}
    chat = {"model": "demo", "messages": HI, "user": B_USER, "metadata": metadata}
    embed = {"model": "demo-embedding", "input": "hi", "user": B_USER}
    message = {"model": "demo", "max_tokens": 20, "messages": HI, "metadata": {"user_id": B_USER}}
    doors: list[tuple[str, str, dict[str, Any] | None, bool]] = [
        ("GET", "/v1/models", None, False),
        ("POST", "/v1/chat/completions", chat, True),
        ("POST", "/v1/chat/completions", {**chat, "project": b.id, "organization": b.id}, True),
        ("POST", "/v1/chat/completions",
         {**chat, "stream": True, "stream_options": {"include_usage": True}}, True),
        ("POST", "/v1/embeddings", embed, True),
        ("POST", "/v1/messages", message, True),
        ("POST", "/v1/messages", {**message, "stream": True}, True),
        ("POST", "/v1/messages/count_tokens", {"model": "demo", "messages": HI}, False),
    ]  # fmt: skip
    for method, path, body, billed in doors:
        for headers in naming(world):
            auth = {"x-api-key": a.secret} if "messages" in path else {
                "Authorization": f"Bearer {a.secret}"}  # fmt: skip
            label = f"{method} {path} {headers}"
            reply = probe(world, http, label, method, path, json=body, headers={**auth, **headers})
            assert reply.status_code == 200, (label, reply.text[:500])
            world.a_billed += billed
    # B's key id where a secret belongs: refused, and not echoed.
    for headers in ({"Authorization": f"Bearer {b.key_id}"}, {"x-api-key": b.key_id}):
        reply = probe(world, http, f"B's key id as a key {headers}", "POST",
                      "/v1/chat/completions", json=chat, headers=headers)  # fmt: skip
        assert reply.status_code == 401


def admin_calls(b: Tenant, key_id: str) -> list[tuple[str, str]]:
    """(method, path) of every admin route, its path parameters naming B."""
    filled = {"{name}": b.name, "{key_id}": key_id, "{model:path}": "demo"}
    calls: list[tuple[str, str]] = []
    for route in admin_routes(create_engine("sqlite://"), ADMIN_TOKEN):
        path = route.path
        for param, value in filled.items():
            path = path.replace(param, value)
        assert "{" not in path, route.path
        calls.extend((m, path) for m in sorted(route.methods or ()) if m != "HEAD")
    return calls


def probe_admin(world: World, http: httpx.Client, secret: str, *, label: str) -> None:
    """Every /admin/ route with `secret` (and with no token at all): 401, never a 200."""
    b = world.b
    body = {"project": b.name, "period": "daily", "amount": "0", "monthly_budget": "0",
            "price_multiplier": "0", "input": "0", "output": "0", "currency": "USD"}  # fmt: skip
    calls = admin_calls(b, b.key_id) + admin_calls(b, world.b_revoked.key_id)
    assert len(calls) >= 40
    for method, path in calls:
        for headers in (
            {"Authorization": f"Bearer {secret}"},
            {"x-api-key": secret},
            {"Authorization": f"Bearer {secret}", "x-api-key": ADMIN_TOKEN[:-1]},
            {},
        ):
            reply = probe(world, http, f"{label}: {method} {path} {list(headers)}", method, path,
                          json=None if method == "GET" else body, headers=headers)  # fmt: skip
            assert reply.status_code in (401, 403), (method, path, headers, reply.text)


def test_a_key_of_another_project_sees_and_changes_nothing_of_b(world: World) -> None:
    suite, a, b = world.suite, world.a, world.b
    with httpx.Client(base_url=world.root, timeout=30) as http:
        # The control: B's own key does see what the needles name, so the probes could.
        own = http.get("/v1/usage", params={"by": "project,key,user", "from": "2000-01-01"},
                       headers={"x-api-key": b.secret})  # fmt: skip
        assert {"B's key id", "B's end user", "B's spend"} <= set(leaks(world, own)), own.text
        probe_usage(world, http)
        probe_dashboard(world, http)  # before A's calls name B's end user as A's own
        probe_calls(world, http)
        probe_new_calls(world, http)
        probe_holdings(world, http)
        probe_admin(world, http, a.secret, label="A's key")
    assert len(world.answers) > 400
    asked = [(reply.request.method, reply.request.url.path) for _, reply in world.answers]
    assert unreached(asked, NO_TENANT_DATA) == [], "gateway routes no tenant probe reached"

    # B's rows, holds, bill, budgets, stored response, files and batch
    assert state_of(suite, b, world.held) == world.b_before
    rows = wait_ledger(suite, a.id, world.a_billed)
    assert len(rows) == world.a_billed and world.a_billed == 32
    assert {(r["project_id"], r["key_id"], r["currency"]) for r in rows} == {
        (a.id, a.key_id, "USD")
    }
    assert all(r["cost_nano"] > 0 for r in rows)
    with suite.engine.connect() as conn:
        strays = conn.execute(
            select(LEDGER).where(LEDGER.c.key_id == a.key_id, LEDGER.c.project_id != a.id)
        ).all()
    assert strays == []
    with httpx.Client(base_url=world.root) as http:
        mine = http.get("/v1/usage", headers={"x-api-key": a.secret}).json()
    assert (mine["project"], mine["requests"]) == (a.name, world.a_billed)


def test_a_revoked_key_of_b_is_refused_everywhere(world: World) -> None:
    revoked = world.b_revoked
    before = state_of(world.suite, world.b, world.held)
    doors: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/v1/models", None),
        ("GET", "/v1/usage", None),
        ("GET", "/v1/usage", {"by": "project,key,user"}),
        ("POST", "/v1/chat/completions", {"model": "demo", "messages": HI}),
        ("POST", "/v1/chat/completions", {"model": "demo", "messages": HI, "stream": True}),
        ("POST", "/v1/embeddings", {"model": "demo-embedding", "input": "hi"}),
        ("POST", "/v1/messages", {"model": "demo", "max_tokens": 20, "messages": HI}),
        ("POST", "/v1/messages/count_tokens", {"model": "demo", "messages": HI}),
    ]
    with httpx.Client(base_url=world.root, timeout=30) as http:
        for method, path, body in doors:
            for auth in (
                {"Authorization": f"Bearer {revoked.secret}"},
                {"x-api-key": revoked.secret},
            ):
                params = body if method == "GET" else None
                json = body if method == "POST" else None
                reply = http.request(method, path, params=params, json=json, headers=auth)
                assert reply.status_code == 401, (method, path, reply.text)
        probe_revoked(world, http)
        probe_admin(world, http, revoked.secret, label="B's revoked key")
    assert state_of(world.suite, world.b, world.held) == before
    with world.suite.engine.connect() as conn:
        used = conn.execute(select(LEDGER).where(LEDGER.c.key_id == revoked.key_id)).all()
    assert used == []
