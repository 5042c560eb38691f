"""`tollgate bill`, `tollgate report ...` and `tollgate report allocate|savings|whatif`:
cost reports, month-end forecasts and cost allocation, read from Metering's RPCs (the
suite must be running; see metering_rpc.py). The JSON and CSV are tollgate/reports',
the same the admin API shows."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tollgate.cli.common import add_command
from tollgate.config import Settings


def cmd_bill(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli import rpc
    from tollgate.cli.metering_rpc import metering
    from tollgate.reports.budget_use import budget_use_json
    from tollgate.reports.usage import bill_json
    from tollgate.v1 import budget_pb2, metering_pb2

    request = metering_pb2.BillRequest(project=args.project, month=args.month or "")
    with metering(settings) as m:
        bill = bill_json(m.call(lambda: m.stub.GetBill(request, timeout=m.timeout)))
    # Each budget's use in its current period (a day, this month, or all time).
    with rpc.budget(settings) as budget:
        listed = budget.ListBudgets(budget_pb2.ListBudgetsRequest(project=bill["project"]))
    bill["budgets"] = [budget_use_json(info) for info in listed.budgets]
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
    if bill["budgets"]:
        print(_budgets_table(bill["budgets"]))
    return 0


def _budgets_table(budgets: list[dict[str, Any]]) -> str:
    lines = [
        f"\n{'BUDGET':<32} {'PERIOD':<8} {'CURRENT':<10} {'KIND':<5} {'LIMIT':>16} "
        f"{'SPENT':>16} {'USED':>9}"
    ]
    for b in budgets:
        owner = "project" if b["owner"] == "project" else f"key {b['key_name'] or b['key_id']}"
        used = f"{b['percent_used']}%" if b["percent_used"] is not None else "-"
        lines.append(
            f"{owner:<32} {b['period']:<8} {b['period_key']:<10} "
            f"{'hard' if b['hard'] else 'soft':<5} {b['currency'] + ' ' + b['limit']:>16} "
            f"{b['spent']:>16} {used:>9}"
        )
    return "\n".join(lines)


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
    from tollgate.cli.metering_rpc import metering
    from tollgate.reports.usage import report_csv, report_json
    from tollgate.v1 import metering_pb2

    request = metering_pb2.ReportRequest(
        project=args.project or "",
        from_day=args.from_day or "",
        to_day=args.to_day or "",
        group_by=(args.by or "").split(","),
    )
    with metering(settings) as m:
        reply = m.call(lambda: m.stub.GetReport(request, timeout=m.timeout))
    if args.csv:
        print(report_csv(reply), end="")
        return 0
    shown = report_json(reply)
    if args.json:
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
    from tollgate.cli.metering_rpc import metering
    from tollgate.reports.allocation import allocation_csv, allocation_json
    from tollgate.v1 import metering_pb2

    names = [n.strip() for n in args.projects.split(",") if n.strip()] if args.projects else []
    request = metering_pb2.AllocateRequest(
        total=args.total,
        currency=args.currency,
        from_day=args.from_day or "",
        to_day=args.to_day or "",
        projects=names,
    )
    with metering(settings) as m:
        reply = m.call(lambda: m.stub.Allocate(request, timeout=m.timeout))
    if args.csv:
        print(allocation_csv(reply), end="")
        return 0
    shown = allocation_json(reply)
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


def cmd_savings(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli.metering_rpc import metering
    from tollgate.reports.levers import savings_json
    from tollgate.v1 import metering_pb2

    request = metering_pb2.SavingsRequest(project=args.project or "", month=args.month or "")
    with metering(settings) as m:
        shown = savings_json(m.call(lambda: m.stub.GetSavings(request, timeout=m.timeout)))
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    scope = args.project or "all projects"
    print(f"Savings of {scope}, {shown['month']}, against the models asked for")
    print(f"\n{'PROJECT':<20} {'LEVER':<11} {'CALLS':>7} {'CUR':<4}{'COST':>16} {'SAVED':>16}")
    for line in shown["lines"]:
        print(
            f"{line['project']:<20} {line['lever']:<11} {line['requests']:>7} "
            f"{line['currency']:<4}{line['cost']:>16} {line['saved']:>16}"
        )
    for t in shown["totals"]:
        print(
            f"{'TOTAL':<20} {str(t['cache_hits']) + ' hits':<11} {t['requests']:>7} "
            f"{t['currency']:<4}{t['cost']:>16} {t['saved']:>16}"
        )
    return 0


def cmd_whatif(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli.metering_rpc import metering
    from tollgate.reports.levers import whatif_json, whatif_request

    request = whatif_request(
        args.project, args.month or "", args.map, args.price, args.cache_hit_rate or ""
    )
    with metering(settings) as m:
        shown = whatif_json(m.call(lambda: m.stub.GetWhatIf(request, timeout=m.timeout)))
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    c = shown["currency"]
    print(f"What if, {shown['project']}, {shown['month']} ({c}):")
    print(f"\n{'MODEL':<24} {'PRICED AS':<24} {'CALLS':>7} {'ACTUAL':>16} {'WHAT IF':>16}")
    for line in shown["lines"]:
        print(
            f"{line['model']:<24} {line['priced_as']:<24} {line['requests']:>7} "
            f"{line['actual']:>16} {line['what_if']:>16}"
        )
    print(f"{'TOTAL':<24} {'':<24} {'':>7} {shown['actual']:>16} {shown['what_if']:>16}")
    print(f"difference: {c} {shown['difference']}")
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
    a = add_command(
        actions, "savings", cmd_savings, "what cache, downgrades and routing rules saved"
    )
    a.add_argument("--project", help="one project (default: every project)")
    a.add_argument("--month", help="YYYY-MM (default: this month, UTC)")
    a.add_argument("--json", action="store_true")
    a = add_command(
        actions, "whatif", cmd_whatif, "a month re-priced under another model, price or cache rate"
    )
    a.add_argument("--project", required=True)
    a.add_argument("--month", help="YYYY-MM (default: last month, UTC)")
    a.add_argument(
        "--map", action="append", default=[], help="SERVED=MODEL, e.g. gpt-4o=gpt-4o-mini"
    )
    a.add_argument(
        "--price",
        action="append",
        default=[],
        help="MODEL=IN,OUT[,CACHED] per million tokens, in the project's currency",
    )
    a.add_argument("--cache-hit-rate", help="0 to 1: this share of calls answered free")
    a.add_argument("--json", action="store_true")

    from tollgate.cli import calls

    calls.register(sub)
