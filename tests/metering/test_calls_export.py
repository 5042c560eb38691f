"""Per-call records: Metering's ExportCalls streams a project's ledger rows over whole
UTC days in pages, in the order the calls started, read a page at a time (a row
written while an export runs, after the rows already sent, still comes); `tollgate
calls` and GET /admin/calls write them as they arrive, as CSV or one JSON array, each
record's cost exactly its ledger row's. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from services.budget.admin import operations as admin
from services.metering.calls import ledger_pages
from services.metering.ledger import UsageLedger
from tests.metering.ledger_rows import entry
from tests.metering.services import Services
from tollgate.db import as_utc
from tollgate.db.models import LEDGER
from tollgate.reports.calls import COLUMNS
from tollgate.v1 import metering_pb2

FIRST = datetime(2026, 11, 1, tzinfo=UTC)  # the export's days: 1 to 3 November 2026
ARGS = ("--from", "2026-11-01", "--to", "2026-11-03")
PARAMS = {"from": "2026-11-01", "to": "2026-11-03"}


@pytest.fixture
def calls(services: Services) -> Services:
    """23 calls of acme on 1-3 November (two at the very same instant), some failed and
    a cache hit; one just before and one just after the days; one of another project."""
    s = services
    ledger = UsageLedger(s.engine)
    mine = {"project_id": s.project, "key_id": s.key}
    for i in range(23):
        started = FIRST + timedelta(hours=3 * i, microseconds=7)
        extra: dict[str, Any] = {"status": "failed"} if i % 7 == 3 else {}
        if i == 5:
            extra = {"cache_hit": True, "route_reason": "cache", "saved_nano": 41, "attempts": 0}
        ledger.add(entry(f"in-{i:02}", started, 1_000_000_001 * i + 1, **mine, **extra))
    same = FIRST + timedelta(hours=3, microseconds=7)  # in-01's instant: the id breaks the tie
    ledger.add(entry("same-instant", same, 5, **mine))
    ledger.add(entry("before", FIRST - timedelta(microseconds=1), 7, **mine))
    ledger.add(entry("after", FIRST + timedelta(days=3), 9, **mine))
    other = admin.create_project(s.engine, "other").id
    ledger.add(entry("other", FIRST + timedelta(hours=1), 11, project_id=other))
    return s


def _ledger(s: Services) -> list[Any]:
    """acme's rows of the three days, in the order they started, from the table itself."""
    with s.engine.connect() as conn:
        rows = conn.execute(select(LEDGER).where(LEDGER.c.project_id == s.project)).all()
    inside = [r for r in rows if FIRST <= as_utc(r.started_at) < FIRST + timedelta(days=3)]
    return sorted(inside, key=lambda r: (as_utc(r.started_at), r.id))


def _nano(amount: str) -> int:
    return int(Decimal(amount) * 10**9)


def test_the_rpc_streams_the_days_rows_in_pages_in_call_order(calls: Services) -> None:
    s = calls
    pages = list(
        s.metering.ExportCalls(
            metering_pb2.ExportCallsRequest(
                project="acme", from_day="2026-11-01", to_day="2026-11-03", page_size=5
            )
        )
    )
    assert [len(page.calls) for page in pages] == [5, 5, 5, 5, 4]
    assert {(p.project, p.project_id, p.from_day, p.to_day) for p in pages} == {
        ("acme", s.project, "2026-11-01", "2026-11-03")
    }
    records = [call for page in pages for call in page.calls]
    rows = _ledger(s)
    assert [r.request_id for r in records] == [row.request_id for row in rows]
    assert [_nano(r.cost.amount) for r in records] == [row.cost_nano for row in rows]
    hit = next(r for r in records if r.request_id == "in-05")
    assert (hit.cache_hit, hit.saved.amount, hit.attempts) == (True, "0.000000041", 0)
    assert next(r for r in records if r.request_id == "in-03").status == (
        metering_pb2.CALL_STATUS_FAILED
    )
    assert records[0].started_at == "2026-11-01T00:00:00.000Z"


def test_pages_are_read_one_at_a_time(calls: Services) -> None:
    """A row written after the first page has gone, later than every row sent, is in a
    later page: the export reads the ledger as it goes, not all at once up front."""
    # Driven in process: over gRPC the server may run ahead of the client by as many
    # pages as the transport buffers, so when the row lands would be a race.
    s = calls
    pages = ledger_pages(s.engine, s.project, date(2026, 11, 1), date(2026, 11, 3), 5)
    first = next(pages)
    late = FIRST + timedelta(days=2, hours=23)
    UsageLedger(s.engine).add(entry("late", late, 3, project_id=s.project, key_id=s.key))
    rest = [row.request_id for page in pages for row in page]
    assert len(first) == 5 and rest[-1] == "late" and len(rest) == 20


def test_the_rpc_refuses_bad_requests_naming_the_field(calls: Services) -> None:
    s = calls
    for request, code, param in [
        (metering_pb2.ExportCallsRequest(), grpc.StatusCode.INVALID_ARGUMENT, "project"),
        (metering_pb2.ExportCallsRequest(project="nope"), grpc.StatusCode.NOT_FOUND, ""),
        (
            metering_pb2.ExportCallsRequest(project="acme", from_day="2026-13-01"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "from_day",
        ),
    ]:
        with pytest.raises(grpc.RpcError) as refused:
            list(s.metering.ExportCalls(request))
        assert refused.value.code() == code
        given = dict(refused.value.trailing_metadata() or ()).get("tollgate-param", "")
        assert given == param


def test_tollgate_calls_writes_csv_json_and_a_table(calls: Services, cli: Any) -> None:
    s = calls
    rows = _ledger(s)
    code, out, err = cli("calls", "--project", "acme", *ARGS, "--csv")
    assert (code, err) == (0, ""), err
    shown = list(csv.DictReader(io.StringIO(out)))
    assert list(shown[0]) == list(COLUMNS)
    assert [(r["request_id"], _nano(r["cost"])) for r in shown] == [
        (row.request_id, row.cost_nano) for row in rows
    ]
    assert sum(Decimal(r["cost"]) for r in shown) == Decimal(sum(r.cost_nano for r in rows)) / 10**9
    assert {r["status"] for r in shown} == {"ok", "failed"}
    code, out, _ = cli("calls", "--project", s.project, *ARGS, "--json")
    records = json.loads(out)
    assert [r["request_id"] for r in records] == [row.request_id for row in rows]
    hit = next(r for r in records if r["request_id"] == "in-05")
    assert (hit["route_reason"], hit["cache_hit"], hit["saved"]) == ("cache", True, "0.000000041")
    assert [r["request_id"] for r in records[1:3]] == ["in-01", "same-instant"]
    code, out, _ = cli("calls", "--project", "acme", *ARGS)
    assert code == 0 and out.startswith("STARTED") and len(out.splitlines()) == len(rows) + 1
    code, out, _ = cli("calls", "--project", "acme", "--from", "2025-01-01", "--to", "2025-01-02")
    assert (code, out.splitlines()) == (0, [out.splitlines()[0]])  # the header alone
    code, out, _ = cli(
        "calls", "--project", "acme", "--from", "2025-01-01", "--to", "2025-01-02", "--json"
    )
    assert json.loads(out) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tollgate_calls_shows_progress_on_a_terminal_only(
    calls: Services, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli("calls", "--project", "acme", *ARGS, "--csv")
    assert (code, err) == (0, "")  # not a terminal: nothing on stderr
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    code, out, _ = cli("calls", "--project", "acme", *ARGS, "--csv")
    assert code == 0 and len(out.splitlines()) == 25
    assert terminal.getvalue() == "\r24 calls exported\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--project", "nobody"], "no project named 'nobody'"),
        (["--project", "acme", "--from", "2026-11-31"], "is not a day"),
        (["--project", "acme", "--from", "2026-11-02", "--to", "2026-11-01"], "is after"),
    ],
)
def test_bad_calls_input_exits_2_and_writes_nothing(
    cli: Any, argv: list[str], message: str
) -> None:
    code, out, err = cli("calls", *argv)
    assert (code, out) == (2, "") and message in err and "Traceback" not in err


def test_admin_calls_streams_csv_and_json(calls: Services, admin_http: Any, cli: Any) -> None:
    s = calls
    rows = _ledger(s)
    reply = admin_http.get("/admin/calls", params={"project": "acme", **PARAMS, "format": "csv"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    assert 'filename="calls-acme-2026-11-01-2026-11-03.csv"' in reply.headers["content-disposition"]
    shown = list(csv.DictReader(io.StringIO(reply.text)))
    assert [(r["request_id"], _nano(r["cost"])) for r in shown] == [
        (row.request_id, row.cost_nano) for row in rows
    ]
    reply = admin_http.get("/admin/calls", params={"project": s.project, **PARAMS})
    assert reply.headers["content-type"] == "application/json"
    assert [r["request_id"] for r in reply.json()] == [row.request_id for row in rows]
    # The CLI and the admin API write the same records.
    assert json.loads(cli("calls", "--project", "acme", *ARGS, "--json")[1]) == reply.json()


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"project": "nobody"}, 404, None),
        ({}, 400, "project"),
        ({"project": "acme", "from": "2026-02-30"}, 400, "from"),
        ({"project": "acme", "to": "soon"}, 400, "to"),
        ({"project": "acme", "format": "xml"}, 400, "format"),
    ],
)
def test_bad_admin_calls_queries_are_4xx_naming_the_param(
    admin_http: Any, params: dict[str, str], status: int, param: str | None
) -> None:
    reply = admin_http.get("/admin/calls", params=params)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and error["message"]
