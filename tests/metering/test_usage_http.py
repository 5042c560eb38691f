"""Reports over HTTP, with the whole suite running as separate processes: a project's
own key reads its usage, forecast and range reports at GET /v1/usage, and operators
read any report at GET /admin/reports behind the admin token."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.e2e.suite import Suite, start_suite, stop_suite

pytestmark = pytest.mark.e2e  # starts the suite as separate processes

TOKEN = "admin-token-for-report-tests"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp("reports")
    running = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", extra_env={"TOLLGATE_ADMIN_TOKEN": TOKEN}
    )
    yield running
    stop_suite(running)


@pytest.fixture(scope="module")
def tenants(suite: Suite) -> dict[str, str]:
    """Two projects; "web" made three calls for two end users, "batch" none."""
    _, web = suite.project_with_key("web")
    _, batch = suite.project_with_key("batch")
    for user in ("alice", "bob", "alice"):
        reply = httpx.post(
            f"{suite.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {web}"},
            json={"model": "demo", "user": user, "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
    deadline = time.monotonic() + 15
    while usage(suite, web)["requests"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"web": web, "batch": batch}


def usage(suite: Suite, secret: str, **params: str) -> dict:  # type: ignore[type-arg]
    reply = httpx.get(
        f"{suite.base_url}/usage", params=params, headers={"Authorization": f"Bearer {secret}"}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_usage_carries_this_months_forecast(suite: Suite, tenants: dict[str, str]) -> None:
    shown = usage(suite, tenants["web"])
    assert shown["requests"] == 3 and "budget" in shown
    forecast = shown["forecast"]
    assert forecast["month"] == shown["period"] and forecast["spent"] == shown["total"]
    assert forecast["currency"] == "CNY"
    # Made today: no complete day to average, so the forecast is the spend so far.
    assert forecast["window"]["days"] == 0 and forecast["forecast"] == shown["total"]
    assert usage(suite, tenants["web"], period="2025-01")["forecast"] is None


def test_usage_over_days_by_dimensions(suite: Suite, tenants: dict[str, str]) -> None:
    total = usage(suite, tenants["web"])["total"]
    shown = usage(suite, tenants["web"], by="user,model")
    assert shown["project"] == "web" and shown["by"] == ["user", "model"]
    assert [(line["end_user"], line["model"], line["requests"]) for line in shown["lines"]] == [
        ("alice", "demo", 2),
        ("bob", "demo", 1),
    ]
    (totals,) = shown["totals"]
    assert totals["total"] == total and totals["requests"] == 3
    assert sum(Decimal(line["total"]) for line in shown["lines"]) == Decimal(total)
    assert shown["forecast"]["spent"] == total
    # A key sees only its own project, whatever it asks for.
    other = usage(suite, tenants["batch"], by="project", project="web")
    assert other["lines"] == [] and other["project"] == "batch"


@pytest.mark.parametrize(
    "params",
    [{"by": "colour"}, {"from": "2026-02-30"}, {"from": "2026-01-01", "period": "2026-01"}],
)
def test_bad_usage_queries_get_a_400(suite: Suite, tenants: dict[str, str], params) -> None:  # type: ignore[no-untyped-def]
    reply = httpx.get(
        f"{suite.base_url}/usage",
        params=params,
        headers={"Authorization": f"Bearer {tenants['web']}"},
    )
    assert reply.status_code == 400 and reply.json()["error"]["message"]


def test_operators_read_reports_as_json_and_csv(suite: Suite, tenants: dict[str, str]) -> None:
    base = suite.base_url.removesuffix("/v1")
    admin = {"Authorization": f"Bearer {TOKEN}"}
    shown = httpx.get(f"{base}/admin/reports", params={"by": "project"}, headers=admin).json()
    assert [line["project"] for line in shown["lines"]] == ["web"]
    reply = httpx.get(
        f"{base}/admin/reports",
        params={"project": "web", "by": "user,day", "format": "csv"},
        headers=admin,
    )
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [r["end_user"] for r in rows] == ["alice", "bob"]
    assert sum(Decimal(r["total"]) for r in rows) == Decimal(usage(suite, tenants["web"])["total"])
    for params, status in [
        ({"project": "nobody"}, 404),
        ({"by": "colour"}, 400),
        ({"format": "xml"}, 400),
        ({"from": "2026-11-02", "to": "2026-11-01"}, 400),
    ]:
        bad = httpx.get(f"{base}/admin/reports", params=params, headers=admin)
        assert bad.status_code == status and bad.json()["error"]["message"], params
    tenant = {"Authorization": f"Bearer {tenants['web']}"}
    assert httpx.get(f"{base}/admin/reports", headers=tenant).status_code == 401
