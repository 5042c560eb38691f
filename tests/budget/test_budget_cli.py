"""`tollgate budget set|list|delete`, run as an operator runs them; bad input gets a
clear error, exit code 2, and writes nothing."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The CLI runs against the shared `services` (tests/conftest.py) on SQLite."""
    return sqlite_url


@pytest.fixture
def tollgate(cli, monkeypatch):  # type: ignore[no-untyped-def]
    """`cli`, whose services hold a project `acme` already."""
    monkeypatch.setenv("TOLLGATE_BUDGET_TIMEZONE", "Asia/Shanghai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return cli


def budgets_of(tollgate, *args: str) -> list[dict]:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate("budget", "list", "--json", *args)
    assert code == 0
    return list(json.loads(out))


def test_set_list_and_delete(tollgate) -> None:  # type: ignore[no-untyped-def]
    assert tollgate("project", "create", "shop", "--monthly-budget", "5000")[0] == 0
    _, out, _ = tollgate("key", "create", "--project", "shop", "--name", "bot", "--json")
    key = json.loads(out)["id"]
    code, out, _ = tollgate(
        "budget", "set", "--project", "shop", "--period", "daily", "--amount", "1000",
        "--alert-at", "80",
    )  # fmt: skip
    assert code == 0 and "daily hard budget CNY 1000.00" in out and "alerts at 80%" in out
    code, _, _ = tollgate(
        "budget", "set", "--project", "shop", "--key", key, "--period", "total",
        "--amount", "20", "--soft",
    )  # fmt: skip
    assert code == 0
    shown = {(b["owner"], b["period"]): b for b in budgets_of(tollgate, "--project", "shop")}
    assert set(shown) == {("project", "daily"), ("project", "monthly"), ("key", "total")}
    assert shown[("project", "monthly")]["amount"] == "5000.00"  # from --monthly-budget
    assert shown[("project", "monthly")]["hard"] is True
    assert shown[("project", "daily")]["alert_at"] == [80]
    assert shown[("project", "daily")]["resets"].endswith(" 00:00 Asia/Shanghai")
    assert shown[("project", "daily")]["spent"] == "0.00"
    assert shown[("project", "daily")]["remaining"] == "1000.00"
    assert shown[("key", "total")]["hard"] is False and shown[("key", "total")]["resets"] == "never"
    assert shown[("key", "total")]["key_name"] == "bot"
    _, out, _ = tollgate("budget", "list")
    assert "shop/bot" in out and "never" in out and "soft" in out
    # Setting again changes the budget in place (one per owner and period).
    tollgate("budget", "set", "--project", "shop", "--period", "daily", "--amount", "900")
    daily = [b for b in budgets_of(tollgate) if b["period"] == "daily"]
    assert [(b["amount"], b["alert_at"]) for b in daily] == [("900.00", [80])]
    # The project commands see the same monthly budget.
    assert tollgate("project", "budget", "shop", "none")[0] == 0
    assert ("project", "monthly") not in {(b["owner"], b["period"]) for b in budgets_of(tollgate)}
    code, out, _ = tollgate(
        "budget", "delete", "--project", "shop", "--key", key, "--period", "total"
    )
    assert code == 0 and "deleted" in out
    assert [b["period"] for b in budgets_of(tollgate)] == ["daily"]


DAILY = ["--project", "shop", "--period", "daily", "--amount", "1"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--project", "nobody", "--period", "daily", "--amount", "1"], "no project named"),
        (["--project", "shop", "--period", "daily", "--amount", "-5"], "non-negative"),
        (["--project", "shop", "--period", "daily", "--amount", "x"], "not a decimal"),
        (["--project", "shop", "--period", "weekly", "--amount", "1"], "invalid choice"),
        ([*DAILY, "--alert-at", "50,x"], "percents"),
        ([*DAILY, "--alert-at", "0"], "from 1"),
        ([*DAILY, "--key", "FOREIGN"], "does not belong"),
        ([*DAILY, "--hard", "--soft"], "not allowed"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tollgate, argv: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    tollgate("project", "create", "shop")
    tollgate("project", "create", "other")
    _, out, _ = tollgate("key", "create", "--project", "other", "--json")
    argv = [json.loads(out)["id"] if a == "FOREIGN" else a for a in argv]
    code, _, err = tollgate("budget", "set", *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert budgets_of(tollgate) == []


def test_deleting_a_missing_budget_is_an_error(tollgate) -> None:  # type: ignore[no-untyped-def]
    tollgate("project", "create", "shop")
    code, _, err = tollgate("budget", "delete", "--project", "shop", "--period", "daily")
    assert code == 2 and "has no daily budget" in err
