"""The savings report (RPC, CLI, admin API) and the bill's `cache_hits` and `saved`:
every amount equals the ledger's saved_nano sums exactly, each row under one lever.
Calls go through real ingest (Budget prices the reference) where the contract allows;
a cache hit at a fraction of its price is written to the ledger directly. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from services.budget.admin import operations as admin
from services.metering.ledger import UsageLedger
from tests.metering.ledger_rows import entry
from tests.metering.services import Services, record
from tollgate.db.models import LEDGER
from tollgate.money import format_amount
from tollgate.reports.levers import savings_json
from tollgate.reports.usage import bill_json
from tollgate.v1 import common_pb2, metering_pb2

R = common_pb2


@pytest.fixture
def month_of_calls(priced: Services) -> Services:
    s = priced
    record(
        s,
        "down",
        10_000,
        2_000,
        model_served="small",
        reference_model="big",
        route_reason=R.ROUTE_REASON_DOWNGRADE,
    )
    record(
        s,
        "prio",
        3_000,
        100,
        model_served="small",
        reference_model="big",
        route_reason=R.ROUTE_REASON_PRIORITY,
    )
    record(
        s,
        "task",
        3_000,
        100,
        model_served="small",
        reference_model="big",
        route_reason=R.ROUTE_REASON_TASK,
    )
    record(s, "compact", 2_000, 100, model_served="big", compacted_tokens=500)
    record(
        s,
        "fallback",
        1_000,
        100,
        model_served="big",
        reference_model="small",
        route_reason=R.ROUTE_REASON_FALLBACK,
    )
    record(s, "asked", 1_000, 100, model_served="big")
    record(
        s,
        "failed",
        1_000,
        0,
        model_served="small",
        reference_model="big",
        route_reason=R.ROUTE_REASON_DOWNGRADE,
        status=metering_pb2.CALL_STATUS_FAILED,
    )
    now = datetime.now(UTC)
    ledger = UsageLedger(s.engine)
    # A cache hit billed at a tenth of its price (the cache's configured fraction).
    ledger.add(
        entry(
            "hit",
            now,
            1_234,
            project_id=s.project,
            model_served="big",
            cache_hit=True,
            route_reason="cache",
            attempts=0,
            saved_nano=11_106,
        )
    )
    # Last month's, and another project's: never in this month's report of acme.
    old = now.replace(day=1) - timedelta(days=2)
    ledger.add(entry("old", old, 5, project_id=s.project, route_reason="downgrade", saved_nano=7))
    other = admin.create_project(s.engine, "other").id
    ledger.add(entry("other", now, 9, project_id=other, route_reason="task", saved_nano=3))
    return s


def _expected(s: Services, project_id: str | None) -> dict[str, Any]:
    """Lever sums from the raw ledger rows, independently of the report's SQL."""
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with s.engine.connect() as conn:
        rows = conn.execute(select(LEDGER)).all()
    levers: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    total = [0, 0, 0, 0]  # requests, hits, cost, saved
    for row in rows:
        started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
        if started < month_start or row.status == "failed":
            continue
        if project_id and row.project_id != project_id:
            continue
        if row.cache_hit:
            lever = "cache"
        elif row.route_reason != "asked":
            lever = row.route_reason
        elif row.compacted_tokens:
            lever = "compaction"
        else:
            lever = "deployment" if row.saved_nano else ""
        if lever:
            sums = levers[(row.project_id, lever)]
            sums[0] += 1
            sums[1] += row.cost_nano
            sums[2] += row.saved_nano
        total = [
            total[0] + 1,
            total[1] + row.cache_hit,
            total[2] + row.cost_nano,
            total[3] + row.saved_nano,
        ]
    return {"levers": dict(levers), "total": total}


def _shown(reply: dict[str, Any]) -> dict[str, Any]:
    nano = 10**9
    return {
        "levers": {
            (line["project_id"], line["lever"]): [
                line["requests"],
                int(Decimal(line["cost"]) * nano),
                int(Decimal(line["saved"]) * nano),
            ]
            for line in reply["lines"]
        },
        "total": [
            sum(t["requests"] for t in reply["totals"]),
            sum(t["cache_hits"] for t in reply["totals"]),
            sum(int(Decimal(t["cost"]) * nano) for t in reply["totals"]),
            sum(int(Decimal(t["saved"]) * nano) for t in reply["totals"]),
        ],
    }


def test_the_savings_report_equals_the_ledgers_sums_on_every_front(
    month_of_calls: Services, operator: Any
) -> None:
    s = month_of_calls
    reply = s.metering.GetSavings(metering_pb2.SavingsRequest(project_id=s.project))
    shown = savings_json(reply)
    expected = _expected(s, s.project)
    assert _shown(shown) == expected
    levers = {lever for _, lever in expected["levers"]}
    assert levers == {"downgrade", "priority", "task", "compaction", "fallback", "cache"}
    by_lever = {line["lever"]: line for line in shown["lines"]}
    assert Decimal(by_lever["fallback"]["saved"]) == 0  # a dearer fallback saves nothing
    assert Decimal(by_lever["downgrade"]["saved"]) > 0
    for line in shown["lines"]:
        assert Decimal(line["reference"]) == Decimal(line["cost"]) + Decimal(line["saved"])
    # The CLI and the admin API show the same JSON.
    code, out, err = operator.cli("report", "savings", "--project", "acme", "--json")
    assert code == 0, err

    assert json.loads(out) == shown
    assert operator.http.get("/admin/savings", params={"project": "acme"}).json() == shown
    # Every project: acme's lines and the other project's.
    every = savings_json(s.metering.GetSavings(metering_pb2.SavingsRequest()))
    assert _shown(every) == _expected(s, None)
    code, out, _ = operator.cli("report", "savings")
    assert code == 0 and "downgrade" in out and "TOTAL" in out


def test_the_bill_shows_cache_hits_and_saved_as_the_ledgers_sum(
    month_of_calls: Services, operator: Any
) -> None:
    s = month_of_calls
    shown = bill_json(s.metering.GetBill(metering_pb2.BillRequest(project=s.project)))
    _, hits, _, saved = _expected(s, s.project)["total"]
    assert (shown["cache_hits"], shown["saved"]) == (1, format_amount(saved))
    assert saved > 11_106
    code, out, err = operator.cli("bill", "--project", "acme", "--json")

    assert code == 0, err
    assert (json.loads(out)["cache_hits"], json.loads(out)["saved"]) == (1, format_amount(saved))
    http = operator.http.get(f"/admin/projects/{s.project}/bill").json()
    assert http["saved"] == format_amount(saved)


def test_bad_savings_input_is_refused_clearly(priced: Services, operator: Any) -> None:
    s = priced
    with pytest.raises(grpc.RpcError) as bad:
        s.metering.GetSavings(metering_pb2.SavingsRequest(month="2026-13"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as missing:
        s.metering.GetSavings(metering_pb2.SavingsRequest(project_id="nope"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    reply = operator.http.get("/admin/savings", params={"month": "soon"})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "month"
    assert operator.http.get("/admin/savings", params={"project": "nope"}).status_code == 404
    code, _, err = operator.cli("report", "savings", "--month", "2026-13")
    assert code == 2 and "2026-13" in err
    empty = savings_json(s.metering.GetSavings(metering_pb2.SavingsRequest(project_id=s.project)))
    assert (empty["lines"], empty["totals"]) == ([], [])
