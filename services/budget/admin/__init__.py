"""Operator actions of Budget: projects, keys, budgets, prices, rate limits, alerts
and model policies, each one transaction that happens whole or not at all.

Budget is the one writer of these tables. The admin RPCs (`rpc_*.py`, mixed into
`BudgetServicer`) are how the HTTP admin API, the CLI and internal tools reach them;
bad input raises an `AdminError` naming the field at fault, which the RPCs answer as
INVALID_ARGUMENT (NOT_FOUND, ALREADY_EXISTS) with the field in `tollgate-param`.
"""

from services.budget.admin.errors import AdminError, AlreadyExists, NotFound

__all__ = ["AdminError", "AlreadyExists", "NotFound"]
