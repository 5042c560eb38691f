"""`tollgate report`, `tollgate report allocate` and `tollgate bill`, run as an operator
runs them: exact CSV for finance, and a clear error (exit 2) for bad input."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from services.metering.ledger import UsageLedger
from tests.metering.ledger_rows import entry
from tollgate import admin
from tollgate.cli.main import main
from tollgate.config import load_settings
from tollgate.db import make_engine
from tollgate.money import to_nano


@pytest.fixture
def tollgate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    for name in [n for n in os.environ if n.startswith("TOLLGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TOLLGATE_HOME", str(tmp_path))

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        out = capsys.readouterr()
        return int(exit_info.value.code or 0), out.out, out.err

    return run


@pytest.fixture
def usage(tollgate) -> None:  # type: ignore[no-untyped-def]
    """Two projects with calls on 30 Nov and 1 Dec 2026."""
    assert tollgate("project", "create", "web")[0] == 0
    assert tollgate("project", "create", "batch")[0] == 0
    engine = make_engine(load_settings().database_url)
    ids = {name: admin.get_project(engine, name).id for name in ("web", "batch")}
    ledger = UsageLedger(engine)
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
    engine.dispose()


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
        "--from", "2026-11-01", "--to", "2026-11-30", "--json",
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
def test_bad_report_input_exits_2_with_a_clear_message(tollgate, argv, message) -> None:  # type: ignore[no-untyped-def]
    tollgate("project", "create", "web")
    code, out, err = tollgate(*argv)
    assert code == 2 and message in err and "Traceback" not in err and out == ""
