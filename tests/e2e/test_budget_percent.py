"""Budget percentages through the suite: /v1/usage and `tollgate bill` (JSON and
table) show each budget's limit, period and the percent of it spent, computed exactly
from the ledger's nano-units and truncated to two decimals."""

from __future__ import annotations

import json

import httpx

from tests.e2e.openai_sdk_helpers import MESSAGES, client, ledger_rows, unique, wait_rows
from tests.e2e.suite import Suite
from tollgate.money import to_nano


def _percent(spent_nano: int, limit: str) -> str:
    hundredths = spent_nano * 10000 // to_nano(limit)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def test_usage_and_bill_show_the_percent_of_each_budget_used(suite: Suite) -> None:
    name = unique("percent")
    project, secret = suite.project_with_key(name, budget="0.9")
    # A soft lifetime budget the calls overrun: its percent passes 100.
    suite.cli(
        "budget", "set", "--project", name, "--period", "total", "--amount", "0.0003", "--soft"
    )
    suite.cli("budget", "set", "--project", name, "--period", "daily", "--amount", "7")
    sdk = client(suite, secret)
    for _ in range(3):
        sdk.chat.completions.create(model="demo", messages=MESSAGES, max_tokens=7)  # type: ignore[arg-type]
    wait_rows(suite, project, 3)
    spent = sum(row.cost_nano for row in ledger_rows(suite, project))
    expected = {
        "monthly": _percent(spent, "0.9"),
        "total": _percent(spent, "0.0003"),
        "daily": _percent(spent, "7"),
    }
    assert float(expected["total"]) > 100 and expected["monthly"] != "0.00"

    usage = httpx.get(
        f"{suite.base_url}/usage", headers={"Authorization": f"Bearer {secret}"}
    ).json()
    assert usage["budget"]["percent_used"] == expected["monthly"]
    lines = {line["period"]: line for line in usage["budget"]["budgets"]}
    assert {period: line["percent_used"] for period, line in lines.items()} == expected
    assert lines["monthly"]["limit"] == "0.90"

    bill = json.loads(suite.cli("bill", "--project", name, "--json").stdout)
    shown = {b["period"]: b for b in bill["budgets"]}
    assert {period: b["percent_used"] for period, b in shown.items()} == expected
    assert shown["total"]["hard"] is False and shown["monthly"]["hard"] is True
    assert shown["monthly"]["limit"] == "0.90" and shown["monthly"]["currency"] == "CNY"
    assert shown["monthly"]["period_key"] == bill["period"]

    table = suite.cli("bill", "--project", name).stdout
    for period, percent in expected.items():
        (row,) = [r for r in table.splitlines() if r.startswith("project ") and f" {period} " in r]
        assert row.rstrip().endswith(f" {percent}%"), row
