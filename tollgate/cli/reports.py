"""`tollgate bill`, `tollgate report ...` and `tollgate report allocate`: cost reports,
month-end forecasts and cost allocation."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tollgate import admin
from tollgate.cli.common import add_command, engine_for
from tollgate.config import Settings


def cmd_bill(settings: Settings, args: argparse.Namespace) -> int:
    from services.metering.reports import bill as bill_of
    from services.metering.reports import forecast_for, usage_report

    engine = engine_for(settings)
    project = admin.get_project(engine, args.project)
    report = usage_report(engine, project.id, args.month)
    bill = bill_of(report, forecast_for(engine, report))
    if args.json:
        print(json.dumps(bill, indent=2))
        return 0
    print(f"Bill for {bill['project']}, {bill['period']}: {bill['currency']} {bill['total']}")
    print(
        f"{bill['requests']} requests, {bill['input_tokens']} input tokens, "
        f"{bill['output_tokens']} output tokens"
    )
    if bill["forecast"]:
        print(_forecast_text(bill["forecast"]))
    print(f"\n{'MODEL':<28} {'REQUESTS':>9} {'INPUT':>12} {'OUTPUT':>12} {'TOTAL':>16}")
    for line in bill["by_model"]:
        print(
            f"{line['model']:<28} {line['requests']:>9} {line['input_tokens']:>12} "
            f"{line['output_tokens']:>12} {line['total']:>16}"
        )
    return 0


def _forecast_text(f: dict[str, Any]) -> str:
    window = f["window"]
    basis = (
        f"average {f['daily_average']}/day over {window['days']} days "
        f"({window['from']} to {window['to']})"
        if window["days"]
        else "no complete day yet to average"
    )
    return (
        f"Forecast for {f['month']}: {f['currency']} {f['forecast']} "
        f"(spent {f['spent']} to {f['as_of']}; {basis}; {f['days_left']} days left)"
    )


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from services.metering.breakdown import parse_dimensions
    from services.metering.days import day_range
    from services.metering.export import operator_report

    day_range(args.from_day, args.to_day)  # bad input fails before the database opens
    parse_dimensions(args.by or "")
    shown = operator_report(
        engine_for(settings),
        project=args.project,
        first=args.from_day,
        last=args.to_day,
        by=args.by or "",
        as_csv=args.csv,
    )
    if isinstance(shown, str):
        print(shown, end="")
    elif args.json:
        print(json.dumps(shown, indent=2))
    else:
        _print_table(shown)
        if shown["forecast"]:
            print(_forecast_text(shown["forecast"]))
    return 0


def _print_table(shown: dict[str, Any]) -> None:
    scope = shown["project"] or "all projects"
    print(f"Usage of {scope}, {shown['from']} to {shown['to']}, by {', '.join(shown['by'])}")
    columns = [c for c in (shown["lines"][0] if shown["lines"] else {}) if c not in _AMOUNTS]
    widths = {c: max([len(c), *(len(str(line[c])) for line in shown["lines"])]) for c in columns}
    header = " ".join(f"{c.upper():<{widths[c]}}" for c in columns)
    print(f"\n{header} {'REQUESTS':>9} {'INPUT':>12} {'OUTPUT':>12} {'CUR':<4}{'TOTAL':>18}")
    for line in shown["lines"]:
        group = " ".join(f"{str(line[c]):<{widths[c]}}" for c in columns)
        print(f"{group} {_amount_cells(line)}")
    for total in shown["totals"]:
        label = " ".join(f"{'':<{widths[c]}}" for c in columns)
        print(f"{'TOTAL':<{len(label)}} {_amount_cells(total)}")


_AMOUNTS = {
    "currency",
    "total",
    "requests",
    "failed_requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
}


def _amount_cells(row: dict[str, Any]) -> str:
    return (
        f"{row['requests']:>9} {row['input_tokens']:>12} {row['output_tokens']:>12} "
        f"{row['currency']:<4}{row['total']:>18}"
    )


def cmd_allocate(settings: Settings, args: argparse.Namespace) -> int:
    from services.metering.allocation import allocate
    from services.metering.days import day_range
    from services.metering.export import allocation_csv, allocation_json

    first, last = day_range(args.from_day, args.to_day)
    names = [n.strip() for n in args.projects.split(",") if n.strip()] if args.projects else None
    allocation = allocate(engine_for(settings), args.total, args.currency, first, last, names)
    if args.csv:
        print(allocation_csv(allocation), end="")
        return 0
    shown = allocation_json(allocation)
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    print(
        f"{shown['currency']} {shown['total']} split by metered cost, "
        f"{shown['from']} to {shown['to']}"
    )
    print(f"\n{'PROJECT':<24} {'METERED':>18} {'CUR':<4} {'SHARE':>14}")
    for share in shown["shares"]:
        print(
            f"{share['project']:<24} {share['metered']:>18} {share['metered_currency']:<4} "
            f"{share['share']:>14}"
        )
    return 0


def _range_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_day", help="first UTC day, YYYY-MM-DD")
    p.add_argument("--to", dest="to_day", help="last UTC day, YYYY-MM-DD (default: today)")


def _format_options(p: argparse.ArgumentParser) -> None:
    formats = p.add_mutually_exclusive_group()
    formats.add_argument("--csv", action="store_true", help="CSV for finance")
    formats.add_argument("--json", action="store_true")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this topic's commands to the `tollgate` parser."""
    p = add_command(sub, "bill", cmd_bill, "a project's bill for a month, with a forecast")
    p.add_argument("--project", required=True)
    p.add_argument("--month", help="YYYY-MM (default: this month, UTC)")
    p.add_argument("--json", action="store_true")

    p = add_command(
        sub, "report", cmd_report, "usage over UTC days, grouped by project/key/model/user/day"
    )
    p.add_argument("--project", help="one project (default: every project)")
    _range_options(p)
    p.add_argument(
        "--by",
        help="comma-separated: project, key, model, user, day "
        "(default: model for one project, project for all)",
    )
    _format_options(p)
    actions = p.add_subparsers(dest="report_action", required=False)
    a = add_command(
        actions, "allocate", cmd_allocate, "split a shared total across projects by metered cost"
    )
    a.add_argument("--total", required=True, help="the amount to split, e.g. 1234.56")
    a.add_argument("--currency", required=True, help="the total's currency: CNY or USD")
    a.add_argument("--projects", help="comma-separated names (default: every project)")
    _range_options(a)
    _format_options(a)
