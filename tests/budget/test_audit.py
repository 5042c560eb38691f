"""The audit log (issue 11): every operator change through the CLI (over gRPC) or the
HTTP admin API leaves exactly one audit row, in the change's own transaction, naming
who (cli:<OS user>, admin:<token fingerprint>), what, before and after; it is read
back through ListAuditEvents, `tollgate audit list` and GET /admin/audit. Served
in-process on SQLite and PostgreSQL (the `services` fixture)."""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from services.budget.admin import audit_log, budgets
from services.budget.admin import operations as admin
from services.budget.alerts.spikes import check_spikes
from services.gateway.admin import admin_routes
from tests.budget.spike_ledger import NOW, SETTINGS, calls, loop, steady
from tests.metering.services import Services
from tollgate.db import make_engine
from tollgate.db.audit_models import AUDIT_LOG
from tollgate.db.models import BUDGETS
from tollgate.v1 import budget_pb2

Run = Callable[..., tuple[int, str, str]]
TOKEN = "admin-token-of-the-audit-test"
ADMIN = "admin:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:12]


def rows(engine: Engine, after_id: int = 0) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(
            select(AUDIT_LOG).where(AUDIT_LOG.c.id > after_id).order_by(AUDIT_LOG.c.id)
        ).mappings()
        shown = []
        for row in found:
            item = dict(row)
            item["before"] = None if row["before"] is None else json.loads(row["before"])
            item["after"] = None if row["after"] is None else json.loads(row["after"])
            shown.append(item)
        return shown


def last_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(AUDIT_LOG.c.id), 0))).scalar_one())


@pytest.fixture
def http(services: Services) -> Iterator[TestClient]:
    app = Starlette(routes=admin_routes(services.engine, TOKEN, budget=services.budget))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def test_a_budget_and_a_price_change_leave_one_row_each_from_the_cli_and_the_api(
    services: Services, cli: Run, http: TestClient
) -> None:
    engine = services.engine
    me = "cli:" + getpass.getuser()

    start = last_id(engine)
    assert cli("budget", "set", "--project", "acme", "--period", "daily", "--amount", "100")[0] == 0
    (row,) = rows(engine, start)
    assert (row["actor"], row["action"], row["target_kind"]) == (me, "budget.set", "budget")
    assert (row["target"], row["project_id"]) == ("acme/daily", services.project)
    assert row["before"] is None
    assert row["after"]["amount"] == "100.00" and row["after"]["period"] == "daily"
    assert row["after"]["hard"] is True

    start = last_id(engine)
    reply = http.put(
        "/admin/budgets",
        json={"project": "acme", "period": "daily", "amount": "250", "hard": False},
    )
    assert reply.status_code == 200, reply.text
    (row,) = rows(engine, start)
    assert (row["actor"], row["action"], row["target"]) == (ADMIN, "budget.set", "acme/daily")
    assert (row["before"]["amount"], row["before"]["hard"]) == ("100.00", True)
    assert (row["after"]["amount"], row["after"]["hard"]) == ("250.00", False)

    start = last_id(engine)
    code, _, err = cli("price", "set", "demo", "--input", "1.5", "--output", "3")
    assert code == 0, err
    (row,) = rows(engine, start)
    assert (row["actor"], row["action"], row["target_kind"]) == (me, "price.set", "price")
    assert row["target"] == "demo" and row["project_id"] is None
    assert row["before"]["model"] == "demo" and row["before"]["input"] != "1.50"
    assert (row["after"]["input"], row["after"]["output"]) == ("1.50", "3.00")

    start = last_id(engine)
    reply = http.put("/admin/prices/demo", json={"input": "2", "output": "4"})
    assert reply.status_code == 200, reply.text
    (row,) = rows(engine, start)
    assert (row["actor"], row["action"], row["target"]) == (ADMIN, "price.set", "demo")
    assert (row["before"]["input"], row["before"]["output"]) == ("1.50", "3.00")
    assert (row["after"]["input"], row["after"]["output"]) == ("2.00", "4.00")

    # Read back: the RPC through the CLI, and the route, newest first, filtered.
    code, out, _ = cli("audit", "list", "--project", "acme", "--action", "budget", "--json")
    listed = json.loads(out)
    assert [(e["action"], e["actor"]) for e in listed] == [
        ("budget.set", ADMIN),
        ("budget.set", me),
    ]
    assert listed[0]["before"]["amount"] == "100.00" and listed[0]["project"] == "acme"
    code, out, _ = cli("audit", "list", "--action", "price")
    assert code == 0 and "price.set" in out and "input: 1.50 -> 2.00" in out
    assert "budget.set" not in out
    shown = http.get("/admin/audit", params={"action": "price.set", "limit": "1"}).json()
    assert [e["actor"] for e in shown["data"]] == [ADMIN]
    second = http.get(
        "/admin/audit",
        params={"action": "price.set", "limit": "1", "before_id": shown["next_before_id"]},
    ).json()
    assert [e["actor"] for e in second["data"]] == [me]
    assert second["next_before_id"] is None
    later = http.get("/admin/audit", params={"since": "2999-01-01"}).json()
    assert later["data"] == []


def test_refused_and_unchanged_changes_leave_no_row(
    services: Services, cli: Run, http: TestClient
) -> None:
    engine = services.engine
    start = last_id(engine)
    bad = http.put("/admin/budgets", json={"project": "acme", "period": "daily", "amount": "-1"})
    assert bad.status_code == 400
    assert cli("budget", "set", "--project", "nope", "--period", "daily", "--amount", "1")[0] == 2
    assert http.put("/admin/prices/demo", json={"input": "x", "output": "1"}).status_code == 400
    assert rows(engine, start) == []
    # Revoking twice changes the key once.
    assert http.post(f"/admin/keys/{services.key}/revoke").status_code == 200
    assert http.post(f"/admin/keys/{services.key}/revoke").status_code == 200
    assert [r["action"] for r in rows(engine, start)] == ["key.revoke"]
    for since in ("yesterday", "0001-01-01T00:00:00+01:00"):
        bad_query = http.get("/admin/audit", params={"since": since})
        assert bad_query.status_code == 400 and bad_query.json()["error"]["param"] == "since"


def test_no_change_without_its_row(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The row is written in the change's transaction: when writing it fails, the
    change is rolled back too."""
    engine = services.engine

    def broken(value: Any) -> str:
        raise RuntimeError("the audit row cannot be written")

    monkeypatch.setattr(audit_log, "_json", broken)
    with pytest.raises(RuntimeError):
        budgets.set_budget(engine, "acme", period="total", amount="9")
    with pytest.raises(RuntimeError):
        admin.set_price_multiplier(engine, "acme", "1.5")
    with engine.connect() as conn:
        assert conn.execute(select(BUDGETS).where(BUDGETS.c.period == "total")).first() is None
    assert admin.get_project(engine, "acme").price_multiplier == "1"


def test_rows_name_every_kind_of_change_and_hold_no_secret(
    services: Services, http: TestClient
) -> None:
    engine = services.engine
    start = last_id(engine)
    created = http.post("/admin/projects", json={"name": "beta", "monthly_budget": "50"}).json()
    key = http.post("/admin/projects/beta/keys", json={"name": "app"}).json()
    rotated = http.post(f"/admin/keys/{key['id']}/rotate", json={"grace_seconds": 60}).json()
    http.patch("/admin/projects/beta", json={"price_multiplier": "1.15"})
    http.put("/admin/projects/beta/limits", json={"rpm": 10})
    http.put("/admin/projects/beta/policy", json={"priority": "low"})
    http.put(f"/admin/keys/{key['id']}/policy", json={"priority": "high"})
    http.delete("/admin/projects/beta/limits")
    http.put("/admin/projects/beta/budget", json={"monthly_budget": None})
    written = rows(engine, start)
    assert [(r["action"], r["actor"]) for r in written] == [
        (action, ADMIN)
        for action in (
            "project.create",
            "key.create",
            "key.rotate",
            "project.multiplier",
            "limits.set",
            "policy.set",
            "key_policy.set",
            "limits.clear",
            "budget.delete",
        )
    ]
    assert {r["project_id"] for r in written} == {created["id"]}
    assert written[0]["after"]["monthly_budget"] == "50.00"
    assert written[3]["before"]["price_multiplier"] == "1.00"
    assert written[3]["after"]["price_multiplier"] == "1.15"
    assert written[4]["after"]["rpm"] == 10 and written[7]["after"] is None
    assert written[8]["before"]["amount"] == "50.00" and written[8]["after"] is None
    rotation = written[2]
    assert rotation["before"]["prefix"] == key["prefix"]
    assert rotation["after"]["prefix"] == rotated["prefix"] != key["prefix"]
    text = json.dumps(written, default=str)
    for secret in (key["secret"], rotated["secret"]):
        assert secret not in text
        assert hashlib.sha256(secret.encode()).hexdigest() not in text
    assert "key_hash" not in text


def test_an_actor_is_only_what_the_metadata_may_name() -> None:
    assert audit_log.actor_of([("tollgate-actor", "cli:alice")]) == "cli:alice"
    assert audit_log.actor_of([("tollgate-actor", "admin:0123456789ab")]) == "admin:0123456789ab"
    assert audit_log.actor_of([]) == "internal"
    for nonsense in ("root", "cli:", "cli:a b", "cli:\x00", "boss:me", "cli:" + "x" * 200):
        assert audit_log.actor_of([("tollgate-actor", nonsense)]) == "internal"


def test_a_price_import_leaves_one_row_per_changed_model_and_a_dry_run_none(
    services: Services,
) -> None:
    engine = services.engine
    entry = {"litellm_provider": "openai", "mode": "chat", "output_cost_per_token": 4e-06}
    price_map = json.dumps(
        {
            "audit-model-a": {**entry, "input_cost_per_token": 1e-06},
            "audit-model-b": {**entry, "input_cost_per_token": 2e-06},
        }
    ).encode()
    start = last_id(engine)
    request = budget_pb2.ImportPricesRequest(price_map=price_map, providers=["openai"])
    dry = services.budget.ImportPrices(
        budget_pb2.ImportPricesRequest(price_map=price_map, providers=["openai"], dry_run=True)
    )
    assert len(dry.changes) == 2 and rows(engine, start) == []
    services.budget.ImportPrices(request)
    written = rows(engine, start)
    assert [(r["action"], r["target"], r["actor"]) for r in written] == [
        ("price.import", "audit-model-a", "internal"),
        ("price.import", "audit-model-b", "internal"),
    ]
    assert written[0]["before"] is None and written[1]["after"]["input"] == "2.00"
    services.budget.ImportPrices(request)  # nothing changes: nothing is written
    assert len(rows(engine, start)) == 2


def test_a_spike_pausing_a_key_is_audited_as_an_internal_actor(db_url: str) -> None:
    engine = make_engine(db_url)
    settings = replace(SETTINGS, spike_pause_keys=True)
    project = admin.create_project(engine, "busy", currency="CNY").id
    steady_key, loop_key = (admin.create_key(engine, "busy").info.id for _ in range(2))
    calls(engine, project, steady_key, steady(65, 4))
    calls(engine, project, loop_key, loop(300, timedelta(minutes=2)))
    start = last_id(engine)
    [spike] = check_spikes(engine, settings, NOW)
    assert spike.paused_keys == (loop_key,)
    (row,) = rows(engine, start)
    assert (row["actor"], row["action"], row["target"]) == ("internal:spike", "key.pause", loop_key)
    assert row["before"]["paused_at"] is None and row["after"]["paused_at"]
    check_spikes(engine, settings, NOW)  # already paused: no change, no row
    assert len(rows(engine, start)) == 1
    engine.dispose()


HOSTILE = ["", "\x00", "\ud800", "x" * 300, "9" * 30, "-1", "0", "2026-13-45", "+inf", "NaN"]


def test_hostile_audit_queries_and_key_bodies_get_a_4xx(
    services: Services, http: TestClient
) -> None:
    key = services.key
    raw = [quote(v) for v in HOSTILE if v != "\ud800"] + ["%ED%A0%80", "%FF"]
    for value in raw:
        for name in ("project", "since", "until", "action", "limit", "before_id"):
            reply = http.get(f"/admin/audit?{name}={value}")
            assert reply.status_code < 500, (name, value, reply.text)
    for value in [*HOSTILE, -1, 2**63, 1.5, True, None, [], {}]:
        for name in ("grace_seconds", "expires_at", "expires_in_seconds"):
            body = json.dumps({name: value})  # ASCII: a lone surrogate as its escape
            for path in (f"/admin/keys/{key}/rotate", "/admin/projects/acme/keys"):
                reply = http.post(path, content=body, headers={"content-type": "application/json"})
                assert reply.status_code < 500, (path, name, value, reply.text)
