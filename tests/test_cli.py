"""The operator commands, run as a user runs them; bad input gets a clear error and
changes nothing."""

from __future__ import annotations

import json
import socket

import pytest


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The CLI runs against the shared `services` (tests/conftest.py) on SQLite."""
    return sqlite_url


@pytest.fixture
def tollgate(cli):  # type: ignore[no-untyped-def]
    """`cli`, whose services hold a project `acme` already: these tests use `shop`."""
    return cli


def test_project_key_and_bill_round_trip(tollgate) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate("project", "create", "shop", "--monthly-budget", "5000")
    assert code == 0 and "CNY 5000.00" in out
    code, out, _ = tollgate("key", "create", "--project", "shop", "--name", "ci", "--json")
    created = json.loads(out)
    assert created["secret"].startswith("tg-") and created["id"].startswith("key_")
    code, out, _ = tollgate("key", "list", "--project", "shop")
    assert created["id"] in out and "active" in out
    assert created["secret"] not in out  # the secret is shown once, never listed
    code, out, _ = tollgate("key", "revoke", created["id"])
    assert code == 0
    code, out, _ = tollgate("key", "list", "--project", "shop")
    assert "revoked" in out
    code, out, _ = tollgate("bill", "--project", "shop", "--json")
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
    _, before, _ = tollgate("project", "list", "--json")
    code, _, err = tollgate(*argv)
    assert code == 2 and message in err and "Traceback" not in err
    _, out, _ = tollgate("project", "list", "--json")
    assert [p["name"] for p in json.loads(out)] == [p["name"] for p in json.loads(before)]
    _, out, _ = tollgate("price", "list", "--json")
    assert "m" not in {p["model"] for p in json.loads(out)}


def test_duplicate_project_names_are_refused(tollgate) -> None:  # type: ignore[no-untyped-def]
    assert tollgate("project", "create", "shop")[0] == 0
    code, _, err = tollgate("project", "create", "shop")
    assert code == 2 and "already exists" in err


def test_bill_month_must_be_a_month(tollgate) -> None:  # type: ignore[no-untyped-def]
    tollgate("project", "create", "shop")
    code, _, err = tollgate("bill", "--project", "shop", "--month", "2026-13")
    assert code == 2 and "period" in err


BUDGET_COMMANDS = [
    ["project", "list"],
    ["project", "create", "shop"],
    ["key", "list", "--project", "acme"],
    ["key", "revoke", "key_x"],
    ["price", "list"],
    ["budget", "list"],
    ["limit", "list"],
    ["alert", "list"],
    ["policy", "show", "--project", "acme"],
]


def test_the_operator_commands_are_clients_of_budget(tollgate, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Projects, keys, prices, budgets, limits, alerts and policies are Budget's: with no
    usable database but a running Budget they work; with Budget down each says so in
    one line and exits 1."""
    monkeypatch.setenv("TOLLGATE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, out, err = tollgate("project", "list", "--json")
    assert code == 0 and [p["name"] for p in json.loads(out)] == ["acme"], err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once it closes
    monkeypatch.setenv("TOLLGATE_BUDGET_ADDR", addr)
    for argv in BUDGET_COMMANDS:
        code, out, err = tollgate(*argv)
        assert (code, out) == (1, ""), (argv, out, err)
        assert err == (
            f"tollgate: tollgate's budget service at {addr} is not reachable; "
            "start the suite with `tollgate up`\n"
        ), argv
