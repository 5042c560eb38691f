"""How much of each budget is used: spend over limit as a percent, exact.

    percent_used("400", "500") == "80.00"

The percent is computed on integer nano-units and truncated (never rounded up) to two
decimals, so "100.00" means the limit is reached and 99.99 never shows as 100; a soft
budget past its limit shows more than 100. No float touches the money.
"""

from __future__ import annotations

from typing import Any

from tollgate.money import MoneyError, to_nano
from tollgate.v1 import budget_pb2


def percent_used(spent: str, limit: str) -> str | None:
    """`spent` as a percent of `limit` (decimal strings), truncated to two decimals;
    None when there is no limit (empty, or zero) or an amount is not one."""
    try:
        limit_nano = to_nano(limit) if limit else 0
        spent_nano = to_nano(spent or "0")
    except MoneyError:
        return None
    if limit_nano <= 0:
        return None
    hundredths = spent_nano * 100_00 // limit_nano
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def budget_use_json(info: budget_pb2.BudgetInfo) -> dict[str, Any]:
    """One budget (a ListBudgets line) as a bill shows it: whose, its period and the
    current one, the limit, the spend and the percent used."""
    return {
        "owner": info.owner,
        "key_id": info.key_id if info.HasField("key_id") else None,
        "key_name": info.key_name or None,
        "period": info.period,
        "period_key": info.period_key,
        "hard": info.hard,
        "currency": info.currency,
        "limit": info.amount,
        "spent": info.spent,
        "percent_used": percent_used(info.spent, info.amount),
        "resets": info.resets,
    }
