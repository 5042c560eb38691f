"""`tollgate budget ...`: budgets on projects and keys, over Budget's admin RPCs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tollgate.cli import rpc
from tollgate.cli.common import add_command
from tollgate.config import Settings
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2

PERIODS = ("daily", "monthly", "total")


def _owner(info: dict[str, Any]) -> str:
    if info["key_id"] is None:
        return str(info["project"])
    return f"{info['project']}/{info['key_name'] or info['key_id']}"


def cmd_set(settings: Settings, args: argparse.Namespace) -> int:
    wanted = budget_pb2.SetBudgetRequest(
        project=args.project,
        key_id=args.key,
        period=args.period,
        amount=args.amount,
        hard=not args.soft,
        alert_at=args.alert_at,
    )
    with rpc.budget(settings) as budget:
        info = as_dict(budget.SetBudget(wanted))
    kind = "hard" if info["hard"] else "soft"
    print(
        f"{_owner(info)}: {info['period']} {kind} budget {info['currency']} {info['amount']}, "
        f"alerts at {','.join(map(str, info['alert_at']))}%; "
        f"{info['currency']} {info['spent']} spent in {info['period_key']}"
    )
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with rpc.budget(settings) as budget:
        listed = budget.ListBudgets(budget_pb2.ListBudgetsRequest(project=args.project))
    shown = [as_dict(b) for b in listed.budgets]
    if args.json:
        print(json.dumps(shown))
        return 0
    print(
        f"{'OWNER':<32} {'PERIOD':<8} {'KIND':<5} {'CUR':<4} {'LIMIT':>14} {'SPENT':>14} "
        f"{'HELD':>12} {'REMAINING':>14}  {'ALERTS':<12} RESETS"
    )
    for b in shown:
        print(
            f"{_owner(b):<32} {b['period']:<8} {'hard' if b['hard'] else 'soft':<5} "
            f"{b['currency']:<4} {b['amount']:>14} {b['spent']:>14} {b['reserved']:>12} "
            f"{b['remaining']:>14}  {','.join(map(str, b['alert_at'])):<12} {b['resets']}"
        )
    return 0


def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    wanted = budget_pb2.DeleteBudgetRequest(
        project=args.project, key_id=args.key, period=args.period
    )
    with rpc.budget(settings) as budget:
        deleted = budget.DeleteBudget(wanted).deleted
    owner = f"key {args.key}" if args.key else f"project {args.project}"
    if not deleted:
        raise ValueError(f"{owner} has no {args.period} budget")
    print(f"deleted the {args.period} budget of {owner}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this topic's commands to the `tollgate` parser."""
    budget = sub.add_parser("budget", help="budgets on projects and keys").add_subparsers(
        dest="sub", required=True
    )
    p = add_command(budget, "set", cmd_set, "create or change a budget")
    p.add_argument("--project", required=True)
    p.add_argument("--key", metavar="KEY_ID", help="a key of the project (default: the project)")
    p.add_argument("--period", required=True, choices=PERIODS)
    p.add_argument("--amount", required=True, help="in the project's currency, e.g. 1000")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--hard", action="store_true", help="refuse calls past it (the default)")
    kind.add_argument("--soft", action="store_true", help="only alert")
    p.add_argument("--alert-at", help="alert thresholds in percent (default 50,80,100)")
    p = add_command(budget, "list", cmd_list, "budgets with their spend this period")
    p.add_argument("--project")
    p.add_argument("--json", action="store_true")
    p = add_command(budget, "delete", cmd_delete, "delete a budget")
    p.add_argument("--project", required=True)
    p.add_argument("--key", metavar="KEY_ID")
    p.add_argument("--period", required=True, choices=PERIODS)
