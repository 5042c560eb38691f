"""`tollgate report`, `tollgate report allocate` and `tollgate bill`, run as an operator
runs them, against a running Metering (in-process, with the internal token): exact CSV
for finance, a clear error (exit 2) for bad input, and one line (exit 1) when Metering
cannot be reached or refuses the credential."""

from __future__ import annotations

import csv
import io
import json
import socket
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.budget.admin import operations as admin
from services.metering.ledger import UsageLedger
from tests.metering.ledger_rows import entry
from tests.metering.services import Services
from tollgate.money import to_nano


@pytest.fixture
def tollgate(cli):  # type: ignore[no-untyped-def]
    return cli


@pytest.fixture
def usage(services: Services) -> None:
    """Two projects with calls on 30 Nov and 1 Dec 2026 (and `acme`, with none)."""
    ids = {name: admin.create_project(services.engine, name).id for name in ("web", "batch")}
    ledger = UsageLedger(services.engine)
    calls = [
        ("web", "gpt-4o", datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "0.000000001"),
        ("web", "demo", datetime(2026, 11, 30, 8, tzinfo=UTC), "12.5"),
        ("batch", "demo", datetime(2026, 11, 29, tzinfo=UTC), "25"),
        ("web", "demo", datetime(2026, 12, 1, tzinfo=UTC), "1000"),
    ]
    for i, (project, model, started, cny) in enumerate(calls):
        ledger.add(
            entry(f"c{i}", started, to_nano(cny), project_id=ids[project], model_served=model)
        )


def test_report_csv_for_finance(tollgate, usage) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate(
        "report", "--project", "web", "--from", "2026-11-01", "--to", "2026-11-30",
        "--by", "model,day", "--csv",
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["model"], r["day"], r["currency"], r["total"]) for r in rows] == [
        ("demo", "2026-11-30", "CNY", "12.50"),
        ("gpt-4o", "2026-11-30", "CNY", "0.000000001"),
    ]
    assert sum(Decimal(r["total"]) for r in rows) == Decimal("12.500000001")


def test_report_json_for_all_projects_and_the_table(tollgate, usage) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate("report", "--from", "2026-11-01", "--to", "2026-12-31", "--json")
    shown = json.loads(out)
    assert [(line["project"], line["total"]) for line in shown["lines"]] == [
        ("batch", "25.00"),
        ("web", "1012.500000001"),
    ]
    assert shown["totals"] == [{**shown["totals"][0], "currency": "CNY", "total": "1037.500000001"}]
    code, out, _ = tollgate(
        "report", "--project", "web", "--from", "2026-11-01", "--to", "2026-12-31", "--by", "day"
    )
    assert code == 0 and "Usage of web, 2026-11-01 to 2026-12-31, by day" in out
    assert "2026-12-01" in out and "1000.00" in out and "1012.500000001" in out
    assert "Forecast for" in out


def test_allocate_splits_an_invoice_by_metered_cost(tollgate, usage) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate(
        "report", "allocate", "--total", "100", "--currency", "USD",
        "--from", "2026-11-01", "--to", "2026-11-30", "--projects", "web,batch", "--json",
    )  # fmt: skip
    shown = json.loads(out)
    # batch metered 25, web 12.500000001: 100 x 25/37.500000001 = 66.666666664... -> 66.67
    assert [(s["project"], s["share"]) for s in shown["shares"]] == [
        ("batch", "66.67"),
        ("web", "33.33"),
    ]
    assert (shown["total"], shown["currency"]) == ("100.00", "USD")


def test_bill_shows_this_months_forecast_only(tollgate, usage) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate("bill", "--project", "web", "--json")
    bill = json.loads(out)
    assert bill["forecast"]["month"] == bill["period"]
    assert bill["forecast"]["spent"] == bill["total"]
    code, out, _ = tollgate("bill", "--project", "web", "--month", "2026-11", "--json")
    bill = json.loads(out)
    assert bill["total"] == "12.500000001"
    if bill["period"] != datetime.now(UTC).strftime("%Y-%m"):
        assert bill["forecast"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--by", "model,colour"], "'colour' is not a dimension"),
        (["report", "--from", "2026-13-01"], "is not a day"),
        (["report", "--from", "2026-11-02", "--to", "2026-11-01"], "is after"),
        (["report", "--project", "nobody"], "no project named"),
        (["report", "allocate", "--total", "1.001", "--currency", "CNY"], "finer than 0.01"),
        (["report", "allocate", "--total", "-5", "--currency", "CNY"], "non-negative"),
        (["report", "allocate", "--total", "5", "--currency", "EUR"], "not one of CNY, USD"),
        (["report", "allocate", "--total", "5", "--currency", "CNY"], "nothing was metered"),
    ],
)
def test_bad_report_input_exits_2_with_a_clear_message(tollgate, services, argv, message) -> None:  # type: ignore[no-untyped-def]
    admin.create_project(services.engine, "web")
    code, out, err = tollgate(*argv)
    assert code == 2 and message in err and "Traceback" not in err and out == ""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "argv",
    [
        ["bill", "--project", "acme"],
        ["report"],
        ["report", "allocate", "--total", "5", "--currency", "CNY"],
        ["report", "savings"],
        ["report", "whatif", "--project", "acme"],
        ["calls", "--project", "acme"],
    ],
)
def test_an_unreachable_metering_is_one_line_and_exit_1(bare_cli, monkeypatch, argv) -> None:  # type: ignore[no-untyped-def]
    addr = f"127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("TOLLGATE_METERING_ADDR", addr)
    monkeypatch.setenv("TOLLGATE_INTERNAL_TOKEN", "a-token-no-service-will-check")
    code, out, err = bare_cli(*argv)
    assert (code, out) == (1, "")
    assert err == f"tollgate: tollgate's metering service at {addr} is not reachable; " + (
        "start the suite with `tollgate up`\n"
    )


def test_a_wrong_internal_credential_is_one_line_and_exit_1(tollgate, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOLLGATE_INTERNAL_TOKEN", "not-the-suites-token-at-all")
    code, out, err = tollgate("bill", "--project", "acme")
    assert (code, out) == (1, "")
    assert "refused this command's internal credential" in err and err.count("\n") == 1
    assert "not-the-suites-token" not in err
