"""The admin API's budget, price, multiplier, alert and key-resume routes, served
in-process by the gateway's admin routes on SQLite and PostgreSQL: each shows what
the CLI shows, and bad input gets a 400 naming the field and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy import func, select, update

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.admin.alerts import list_alerts
from services.budget.alerts.delivery import deliver_event
from services.budget.alerts.spikes import check_spikes
from services.budget.reservations import Decision, ReservationBook, Usage
from tests.budget.spike_ledger import NOW, SETTINGS, calls, loop, steady
from tests.gateway.conftest import World, budget_rows, ok
from tests.metering.services import Services
from tollgate.alertconfig import WebhookConfig
from tollgate.db import utcnow
from tollgate.db.models import ALERT_EVENTS, API_KEYS, PRICES

Run = Callable[..., tuple[int, str, str]]


def test_budgets_are_set_listed_with_this_periods_spend_and_deleted(world: World) -> None:
    http = world.http
    daily = ok(
        http.put(
            "/admin/budgets",
            json={
                "project": "acme",
                "period": "daily",
                "amount": "1000",
                "hard": False,
                "alert_at": [80],
            },
        )
    )
    assert (daily["owner"], daily["period"], daily["hard"], daily["amount"]) == (
        "project",
        "daily",
        False,
        "1000.00",
    )
    assert daily["alert_at"] == [80] and daily["spent"] == "0.00"
    zone = budgets.default_zone()
    today = utcnow().astimezone(zone).date()
    assert daily["period_key"] == today.isoformat()
    assert daily["resets_at"].startswith((today + timedelta(days=1)).isoformat() + "T00:00:00")
    monthly = ok(
        http.put(
            "/admin/budgets",
            json={"project": "acme", "key_id": world.key, "period": "monthly", "amount": 500},
        )
    )
    assert (monthly["owner"], monthly["key_id"], monthly["key_name"]) == ("key", world.key, "ci")
    assert monthly["hard"] is True and monthly["alert_at"] == [50, 80, 100]
    ok(http.put("/admin/budgets", json={"project": "other", "period": "total", "amount": "7"}))

    # One settled call (CNY 0.126) and one still reserved.
    ledger = ReservationBook(world.engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600, zone=zone)
    now = utcnow()
    for rid in ("settled", "held"):
        decision = ledger.authorize(rid, world.project, world.key, "demo", 1000, 1000, now=now)
        assert decision.decision is Decision.ALLOWED
    ledger.settle("settled", world.project, world.key, "demo", Usage(1000, 1000), now)

    shown = ok(http.get("/admin/budgets", params={"project": "acme"}))["data"]
    assert [(b["period"], b["owner"]) for b in shown] == [("daily", "project"), ("monthly", "key")]
    # A soft budget holds nothing for calls in flight; a hard one does.
    assert [Decimal(b["reserved"]) > 0 for b in shown] == [False, True]
    for line in shown:
        assert line["spent"] == "0.126"
        assert Decimal(line["amount"]) == sum(
            Decimal(line[part]) for part in ("spent", "reserved", "remaining")
        )
    # The same figures as `tollgate budget list --json`.
    assert shown == [
        {**asdict(b), "alert_at": list(b.alert_at)}
        for b in budgets.list_budgets(world.engine, "acme")
    ]
    everyone = ok(http.get("/admin/budgets"))["data"]
    assert sorted(b["project"] for b in everyone) == ["acme", "acme", "other"]
    assert everyone[-1]["resets_at"] is None and everyone[-1]["resets"] == "never"

    gone = ok(http.delete("/admin/budgets", params={"project": "acme", "period": "daily"}))
    assert gone["deleted"] is True
    again = http.delete("/admin/budgets", params={"project": "acme", "period": "daily"})
    assert again.status_code == 404 and "no daily budget" in again.json()["error"]["message"]
    assert [b["period"] for b in ok(http.get("/admin/budgets?project=acme"))["data"]] == ["monthly"]


BAD_BUDGETS = [
    ({"period": "daily", "amount": "5"}, "project", 400),
    ({"project": "acme", "period": "weekly", "amount": "5"}, "period", 400),
    ({"project": "acme", "amount": "5"}, "period", 400),
    ({"project": "acme", "period": "daily", "amount": "lots"}, "amount", 400),
    ({"project": "acme", "period": "daily", "amount": "-5"}, "amount", 400),
    ({"project": "acme", "period": "daily", "amount": 1.5}, "amount", 400),
    ({"project": "acme", "period": "daily"}, "amount", 400),
    ({"project": "acme", "period": "daily", "amount": "5", "hard": "yes"}, "hard", 400),
    ({"project": "acme", "period": "daily", "amount": "5", "alert_at": "80,50"}, "alert_at", 400),
    ({"project": "acme", "period": "daily", "amount": "5", "alert_at": [0]}, "alert_at", 400),
    ({"project": "acme", "period": "daily", "amount": "5", "alert_at": "x"}, "alert_at", 400),
    ({"project": "acme", "period": "daily", "amount": "5", "alert_at": 80}, "alert_at", 400),
    ({"project": "acme", "period": "daily", "amount": "5", "kind": "soft"}, "kind", 400),
    ({"project": "nobody", "period": "daily", "amount": "5"}, None, 404),
    ({"project": "acme", "key_id": "key_nope", "period": "daily", "amount": "5"}, None, 404),
]


def test_bad_budget_input_names_the_field_and_writes_nothing(world: World) -> None:
    ok(http_put := world.http.put(
        "/admin/budgets", json={"project": "acme", "period": "monthly", "amount": "50"}
    ))  # fmt: skip
    assert http_put.json()["amount"] == "50.00"
    before = budget_rows(world.engine)
    cases = [
        *BAD_BUDGETS,
        # A key of another project.
        ({"project": "acme", "key_id": world.other_key, "period": "daily", "amount": "5"},
         "key_id", 400),
    ]  # fmt: skip
    for body, param, status in cases:
        reply = world.http.put("/admin/budgets", json=body)
        assert reply.status_code == status, (body, reply.text)
        error = reply.json()["error"]
        assert error["message"] and error["param"] == param, (body, error)
        assert budget_rows(world.engine) == before, body
    for params, param in [
        ({"period": "monthly"}, "project"),
        ({"project": "acme", "period": "weekly"}, "period"),
        ({"project": "acme"}, "period"),
    ]:
        reply = world.http.delete("/admin/budgets", params=params)
        assert reply.status_code == 400 and reply.json()["error"]["param"] == param
    assert budget_rows(world.engine) == before


def test_cache_write_prices_and_a_projects_multiplier(world: World) -> None:
    http = world.http
    price = ok(
        http.put(
            "/admin/prices/vendor/cached",
            json={
                "input": "3",
                "output": "15",
                "cached_input": "0.3",
                "cache_write_input": "3.75",
                "currency": "USD",
            },
        )
    )
    assert (price["cache_write_input"], price["cached_input"]) == ("3.75", "0.30")
    listed = {p["model"]: p for p in ok(http.get("/admin/prices"))["data"]}
    assert listed["vendor/cached"] == price
    plain = ok(
        http.put(
            "/admin/prices/vendor/plain", json={"input": "2", "output": "8", "currency": "USD"}
        )
    )
    assert plain["cache_write_input"] == "2.00"  # unset: cache writes cost the input price

    with world.engine.connect() as conn:
        versions = conn.execute(select(func.count()).select_from(PRICES)).scalar()
    for body in [
        {"input": "3", "output": "15", "cache_write_input": "-1"},
        {"input": "3", "output": "15", "cache_write_input": 3.75},
    ]:
        reply = http.put("/admin/prices/vendor/cached", json=body)
        assert reply.status_code == 400, reply.text
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PRICES)).scalar() == versions

    marked = ok(http.patch("/admin/projects/acme", json={"price_multiplier": "1.15"}))
    assert marked["price_multiplier"] == "1.15"
    assert admin.get_project(world.engine, "acme").price_multiplier == "1.15"
    assert ok(http.get("/admin/projects/acme"))["price_multiplier"] == "1.15"
    for body, param in [
        ({"price_multiplier": "lots"}, "price_multiplier"),
        ({"price_multiplier": "2000"}, "price_multiplier"),
        ({"price_multiplier": 1.1}, "price_multiplier"),
        ({}, "price_multiplier"),
        ({"price_multiplier": "1", "currency": "USD"}, "currency"),
    ]:
        reply = http.patch("/admin/projects/acme", json=body)
        assert reply.status_code == 400 and reply.json()["error"]["param"] == param, reply.text
    assert http.patch("/admin/projects/nobody", json={"price_multiplier": "1"}).status_code == 404
    assert admin.get_project(world.engine, "acme").price_multiplier == "1.15"


def test_alerts_with_their_deliveries_and_a_paused_key_resumed(world: World) -> None:
    http, engine = world.http, world.engine
    loop_key = admin.create_key(engine, "acme", "loop").info.id
    calls(engine, world.project, world.key, steady(65, 4))
    calls(engine, world.project, loop_key, loop(300, timedelta(minutes=2)))
    [spike] = check_spikes(engine, replace(SETTINGS, spike_pause_keys=True), NOW)
    assert spike.paused_keys == (loop_key,)

    keys = {k["id"]: k for k in ok(http.get("/admin/projects/acme/keys"))["data"]}
    assert keys[loop_key]["status"] == "paused" and keys[loop_key]["paused_at"]
    assert keys[world.key]["status"] == "active" and keys[world.key]["paused_at"] is None

    [pending] = ok(http.get("/admin/alerts", params={"project": "acme"}))["data"]
    assert (pending["kind"], pending["state"], pending["attempts"]) == ("spike", "pending", [])
    assert ok(http.get("/admin/alerts", params={"project": "other"}))["data"] == []

    # One attempt to a webhook nobody listens on: delivery failed, and logged.
    with engine.begin() as conn:
        conn.execute(update(ALERT_EVENTS).values(claimed_by="test"))
    dead = WebhookConfig("http://127.0.0.1:9/hook")
    once = replace(SETTINGS, max_attempts=1)
    with httpx.Client(timeout=2) as client:
        assert deliver_event(engine, client, pending["id"], "test", once, [dead])
    [failed] = ok(http.get("/admin/alerts"))["data"]
    assert failed["state"] == "failed"
    [attempt] = failed["attempts"]
    assert attempt["attempt"] == 1 and not attempt["delivered"] and attempt["error"]
    assert failed == list_alerts(engine, "acme", 50)[0]  # what `tollgate alert list` shows
    for limit in ("0", "x", "5000"):
        reply = http.get("/admin/alerts", params={"limit": limit})
        assert reply.status_code == 400 and reply.json()["error"]["param"] == "limit"
    assert http.get("/admin/alerts", params={"project": "nobody"}).status_code == 404

    resumed = ok(http.post(f"/admin/keys/{loop_key}/resume"))
    assert (resumed["status"], resumed["paused_at"], resumed["was_paused"]) == (
        "active",
        None,
        True,
    )
    with engine.connect() as conn:
        row = conn.execute(select(API_KEYS).where(API_KEYS.c.id == loop_key)).one()
    assert row.paused_at is None and row.resumed_at is not None
    assert ok(http.post(f"/admin/keys/{loop_key}/resume"))["was_paused"] is False
    assert http.post("/admin/keys/key_nope/resume").status_code == 404


def test_key_status_tells_paused_from_revoked_and_active(world: World) -> None:
    engine = world.engine
    paused, both = (admin.create_key(engine, "acme", n).info.id for n in ("paused", "both"))
    at = utcnow().replace(microsecond=0)
    with engine.begin() as conn:
        conn.execute(update(API_KEYS).where(API_KEYS.c.id.in_([paused, both])).values(paused_at=at))
    admin.revoke_key(engine, both)
    shown = {k.id: k for k in admin.list_keys(engine, "acme")}
    assert (shown[world.key].status, shown[paused].status, shown[both].status) == (
        "active",
        "paused",
        "revoked",
    )
    assert shown[paused].paused_at == at and shown[paused].revoked_at is None
    listed = {k["id"]: k["status"] for k in ok(world.http.get("/admin/projects/acme/keys"))["data"]}
    assert listed == {world.key: "active", paused: "paused", both: "revoked"}


def test_the_cli_key_list_shows_a_paused_key(services: Services, cli: Run) -> None:
    engine = services.engine
    active = services.key
    paused, revoked = (admin.create_key(engine, "acme", n).info.id for n in "pr")
    with engine.begin() as conn:
        conn.execute(update(API_KEYS).where(API_KEYS.c.id == paused).values(paused_at=utcnow()))
    admin.revoke_key(engine, revoked)
    code, out, _ = cli("key", "list", "--project", "acme")
    assert code == 0
    header, *lines = out.splitlines()
    at = header.index("STATUS")
    rows = {line.split()[0]: line[at:] for line in lines}
    assert rows[active] == "active"
    assert rows[paused].startswith("paused 20") and rows[revoked].startswith("revoked 20")
