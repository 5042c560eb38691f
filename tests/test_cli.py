"""The operator commands, run as a user runs them; bad input gets a clear error and
changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tollgate.cli.main import main


@pytest.fixture
def tollgate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    for name in [n for n in list(__import__("os").environ) if n.startswith("TOLLGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("TOLLGATE_HOME", str(tmp_path))

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        out = capsys.readouterr()
        return int(exit_info.value.code or 0), out.out, out.err

    return run


def test_project_key_and_bill_round_trip(tollgate) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate("project", "create", "acme", "--monthly-budget", "5000")
    assert code == 0 and "CNY 5000.00" in out
    code, out, _ = tollgate("key", "create", "--project", "acme", "--name", "ci", "--json")
    created = json.loads(out)
    assert created["secret"].startswith("tg-") and created["id"].startswith("key_")
    code, out, _ = tollgate("key", "list", "--project", "acme")
    assert created["id"] in out and "active" in out
    assert created["secret"] not in out  # the secret is shown once, never listed
    code, out, _ = tollgate("key", "revoke", created["id"])
    assert code == 0
    code, out, _ = tollgate("key", "list", "--project", "acme")
    assert "revoked" in out
    code, out, _ = tollgate("bill", "--project", "acme", "--json")
    bill = json.loads(out)
    assert (bill["total"], bill["requests"], bill["by_model"]) == ("0.00", 0, [])


def test_prices_are_versioned_and_exact(tollgate) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate(
        "price", "set", "my-model", "--input", "21", "--output", "105", "--currency", "CNY"
    )
    assert code == 0
    code, out, _ = tollgate("price", "list", "--json")
    prices = {p["model"]: p for p in json.loads(out)}
    assert prices["my-model"]["input"] == "21.00" and prices["my-model"]["output"] == "105.00"
    assert prices["gpt-4o"]["input"] == "2.50" and prices["gpt-4o"]["currency"] == "USD"
    assert prices["demo"]["output"] == "105.00"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["project", "create", "x", "--monthly-budget", "lots"], "not a decimal"),
        (["project", "create", "x", "--currency", "EUR"], "not one of CNY, USD"),
        (["price", "set", "m", "--input", "-1", "--output", "1"], "non-negative"),
        (["price", "set", "m", "--input", "1", "--output", "0.0000000001"], "9 decimal places"),
        (["key", "create", "--project", "nobody"], "no project named"),
        (["key", "revoke", "key_missing"], "no key with id"),
        (["bill", "--project", "nobody"], "no project named"),
    ],
)
def test_bad_input_gets_a_clear_error_and_writes_nothing(tollgate, argv, message) -> None:  # type: ignore[no-untyped-def]
    code, _, err = tollgate(*argv)
    assert code == 2 and message in err and "Traceback" not in err
    _, out, _ = tollgate("project", "list", "--json")
    assert json.loads(out) == []
    _, out, _ = tollgate("price", "list", "--json")
    assert "m" not in {p["model"] for p in json.loads(out)}


def test_duplicate_project_names_are_refused(tollgate) -> None:  # type: ignore[no-untyped-def]
    assert tollgate("project", "create", "acme")[0] == 0
    code, _, err = tollgate("project", "create", "acme")
    assert code == 2 and "already exists" in err


def test_bill_month_must_be_a_month(tollgate) -> None:  # type: ignore[no-untyped-def]
    tollgate("project", "create", "acme")
    code, _, err = tollgate("bill", "--project", "acme", "--month", "2026-13")
    assert code == 2 and "period" in err
