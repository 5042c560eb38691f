"""Admin input is checked whole before anything is written: every route with a body
refuses fields it does not know, a price's currency is never assumed, and the admin
token is compared whole."""

from __future__ import annotations

from decimal import Decimal

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.reservations import ReservationBook, Usage
from services.gateway.admin import admin_routes
from tests.gateway.conftest import TOKEN, World, budget_rows, ok, price_versions
from tests.metering.services import Services
from tollgate.db import utcnow


def test_repricing_without_a_currency_keeps_the_models_currency(world: World) -> None:
    """Defect 8: repricing `demo` (CNY) without `currency` made it a USD price, 7.2
    times dearer for CNY projects. Now the model keeps its currency, and a model with
    no price yet must name one."""
    http = world.http
    demo = ok(http.put("/admin/prices/demo", json={"input": "42", "output": "210"}))
    assert (demo["currency"], demo["input"], demo["output"]) == ("CNY", "42.00", "210.00")
    ledger = ReservationBook(
        world.engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600, zone=budgets.default_zone()
    )
    now = utcnow()
    ledger.authorize("r1", world.project, world.key, "demo", 1000, 1000, now=now)
    settled = ledger.settle("r1", world.project, world.key, "demo", Usage(1000, 1000), now)
    assert settled.cost_nano == 252_000_000  # CNY 0.252 = (1000 x 42 + 1000 x 210) / 1e6

    usd = ok(
        http.put("/admin/prices/vendor/usd", json={"input": "1", "output": "2", "currency": "usd"})
    )
    assert usd["currency"] == "USD"
    assert (
        ok(http.put("/admin/prices/vendor/usd", json={"input": "3", "output": "4"}))["currency"]
        == "USD"
    )

    before = price_versions(world.engine)
    for body, param in [
        ({"input": "1", "output": "2"}, "currency"),  # a model with no price yet
        ({"input": "1", "output": "2", "currency": "EUR"}, "currency"),
        ({"input": "1", "output": "2", "currency": None}, "currency"),
        ({"input": "-1", "output": "2", "currency": "USD"}, "input"),
        ({"input": "1", "output": "lots", "currency": "USD"}, "output"),
        ({"input": "1", "output": "2", "cached_input": "-1", "currency": "USD"}, "cached_input"),
    ]:
        reply = http.put("/admin/prices/vendor/new", json=body)
        assert reply.status_code == 400, (body, reply.text)
        assert reply.json()["error"]["param"] == param, (body, reply.text)
    assert price_versions(world.engine) == before


# Admin routes that take no body (their path says everything).
BODYLESS = {("POST", "/admin/keys/{key_id}/revoke"), ("POST", "/admin/keys/{key_id}/resume")}


def test_every_admin_route_with_a_body_refuses_unknown_fields(
    world: World, services: Services
) -> None:
    """Defect 8: a field a route does not know is a 400 naming it, never ignored
    (`{"monthly_budet": "500"}` used to delete the monthly budget). Every admin route
    that takes a body is tried, so a new one that forgets the check fails here."""
    http, engine = world.http, world.engine
    admin.set_monthly_budget(engine, "acme", "500")
    filled = {"{name}": "acme", "{key_id}": world.key, "{model:path}": "demo"}
    tried = []
    for route in admin_routes(engine, TOKEN, budget=services.budget):
        for method in sorted((route.methods or set()) & {"POST", "PUT", "PATCH"}):
            if (method, route.path) in BODYLESS:
                continue
            path = route.path
            for param, value in filled.items():
                path = path.replace(param, value)
            before = (
                price_versions(engine), budget_rows(engine), admin.list_projects(engine),
                admin.list_keys(engine, "acme"),
            )  # fmt: skip
            for body in ({"monthly_budet": "500"}, {"zzz": 1, "monthly_budet": None}):
                reply = http.request(method, path, json=body)
                assert reply.status_code == 400, (method, path, body, reply.text)
                assert reply.json()["error"]["param"] == "monthly_budet", (method, path, reply.text)
            assert (
                price_versions(engine), budget_rows(engine), admin.list_projects(engine),
                admin.list_keys(engine, "acme"),
            ) == before, (method, path)  # fmt: skip
            tried.append((method, route.path))
    assert len(tried) == 10, tried  # the two policy PUTs and the key rotation included
    assert admin.get_project(engine, "acme").monthly_budget == "500.00"
    empty = http.put("/admin/projects/acme/budget", json={})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "monthly_budget"
    assert admin.get_project(engine, "acme").monthly_budget == "500.00"
    assert (
        ok(http.put("/admin/projects/acme/budget", json={"monthly_budget": None}))["monthly_budget"]
        is None
    )


def test_the_admin_token_is_checked_whole(world: World) -> None:
    """Prefixes, extensions, other schemes and bytes that are not ASCII get a 401."""
    for header in [
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN.upper()}",
        "Bearer \u00e9\u00e9\u00e9",
        "Bearer",
        "",
    ]:
        reply = world.http.get(
            "/admin/projects", headers={b"Authorization": header.encode("latin-1")}
        )
        assert reply.status_code == 401, (header, reply.text)
        assert reply.json()["error"]["code"] == "invalid_api_key"
    assert ok(world.http.get("/admin/projects", headers={"Authorization": f"bearer  {TOKEN} "}))


def test_the_cli_price_set_keeps_the_models_currency(services: Services, cli) -> None:  # type: ignore[no-untyped-def]
    """Defect 8 in `tollgate price set`: --currency defaulted to USD."""
    engine = services.engine

    def tollgate(*argv: str) -> tuple[int, str]:
        code, out, err = cli(*argv)
        return code, out + err

    code, out = tollgate("price", "set", "demo", "--input", "42", "--output", "210")
    assert code == 0 and "CNY per million tokens" in out, out
    before = price_versions(engine)
    code, out = tollgate("price", "set", "brand-new", "--input", "1", "--output", "2")
    assert code == 2 and "name its currency" in out and "Traceback" not in out, out
    assert price_versions(engine) == before
    code, out = tollgate(
        "price", "set", "brand-new", "--input", "1", "--output", "2", "--currency", "USD"
    )
    assert code == 0 and "USD per million tokens" in out, out


# What no column can hold: on PostgreSQL each of these was a 500 (a NUL in a text
# value, a name past its 200 characters, an integer past 32 bits).
UNSTORABLE = [
    ("PUT", "/admin/prices/demo", {"input": "1", "output": "1", "max_output_tokens": 2**31},
     "max_output_tokens"),
    ("PUT", "/admin/prices/demo", {"input": "1", "output": "1", "max_output_tokens": 0},
     "max_output_tokens"),
    ("PUT", f"/admin/prices/{'m' * 201}", {"input": "1", "output": "1", "currency": "USD"},
     "model"),
    ("POST", "/admin/projects", {"name": "n" * 201}, "name"),
    ("POST", "/admin/projects", {"name": "x\x00y"}, "name"),
    ("POST", "/admin/projects/acme/keys", {"name": "k" * 201}, "name"),
    ("POST", "/admin/projects/acme/keys", {"name": "a\x00b"}, "name"),
    ("PUT", "/admin/budgets", {"project": "acme", "key_id": "a\x00b", "period": "daily",
                               "amount": "1"}, "key_id"),
    ("PUT", "/admin/projects/acme/limits", {"key_id": "a\x00b", "rpm": 1}, "key_id"),
    ("GET", "/admin/projects/a%00b", None, "name"),
    ("GET", "/admin/projects/a%00b/bill", None, "name"),
    ("POST", "/admin/keys/a%00b/revoke", None, "key_id"),
    ("POST", "/admin/keys/a%00b/resume", None, "key_id"),
    ("GET", "/admin/budgets?project=a%00b", None, "project"),
    ("DELETE", "/admin/budgets?project=a%00b&period=daily", None, "project"),
    ("GET", "/admin/reports?project=a%00b", None, "project"),
    ("GET", "/admin/alerts?project=a%00b", None, "project"),
    ("GET", "/admin/limits?project=a%00b", None, "project"),
]  # fmt: skip


def test_what_no_column_can_hold_is_a_400_never_a_500(world: World) -> None:
    engine = world.engine

    def stored() -> tuple[object, ...]:
        keys = admin.list_keys(engine, "acme")
        return price_versions(engine), budget_rows(engine), admin.list_projects(engine), keys

    before = stored()
    for method, path, body, param in UNSTORABLE:
        reply = world.http.request(method, path, json=body)
        assert reply.status_code == 400, (method, path, reply.text)
        assert reply.json()["error"]["param"] == param, (method, path, reply.text)
    assert stored() == before
