"""`tollgate budget ...`: budgets on projects and keys."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from services.budget.periods import PERIODS, zone_of
from tollgate import budgets
from tollgate.cli.common import add_command, engine_for
from tollgate.config import Settings


def _owner(info: budgets.BudgetInfo) -> str:
    if info.key_id is None:
        return info.project
    return f"{info.project}/{info.key_name or info.key_id}"


def cmd_set(settings: Settings, args: argparse.Namespace) -> int:
    info = budgets.set_budget(
        engine_for(settings),
        args.project,
        period=args.period,
        amount=args.amount,
        key_id=args.key,
        hard=not args.soft,
        alert_at=args.alert_at,
        zone=zone_of(settings.budget_timezone),
    )
    kind = "hard" if info.hard else "soft"
    print(
        f"{_owner(info)}: {info.period} {kind} budget {info.currency} {info.amount}, "
        f"alerts at {','.join(map(str, info.alert_at))}%; "
        f"{info.currency} {info.spent} spent in {info.period_key}"
    )
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    shown = budgets.list_budgets(
        engine_for(settings), args.project, zone=zone_of(settings.budget_timezone)
    )
    if args.json:
        print(json.dumps([asdict(b) for b in shown]))
        return 0
    print(
        f"{'OWNER':<32} {'PERIOD':<8} {'KIND':<5} {'CUR':<4} {'LIMIT':>14} {'SPENT':>14} "
        f"{'HELD':>12} {'REMAINING':>14}  {'ALERTS':<12} RESETS"
    )
    for b in shown:
        print(
            f"{_owner(b):<32} {b.period:<8} {'hard' if b.hard else 'soft':<5} {b.currency:<4} "
            f"{b.amount:>14} {b.spent:>14} {b.reserved:>12} {b.remaining:>14}  "
            f"{','.join(map(str, b.alert_at)):<12} {b.resets}"
        )
    return 0


def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    deleted = budgets.delete_budget(
        engine_for(settings), args.project, period=args.period, key_id=args.key
    )
    owner = f"key {args.key}" if args.key else f"project {args.project}"
    if not deleted:
        raise budgets.BudgetError(f"{owner} has no {args.period} budget")
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
