"""The `tollgate` command: run the services, and manage projects, keys, prices and bills."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from tollgate import admin
from tollgate.cli import alerts, budgets, limits, mock_upstream, prices, reports
from tollgate.cli.common import add_command
from tollgate.cli.common import engine_for as _engine
from tollgate.config import ConfigError, Settings, load_settings
from tollgate.money import MoneyError

SERVICES = ("gateway", "router", "metering", "budget")
# Command groups that live in their own modules, each with `register(subparsers)`.
TOPICS = (budgets, alerts, reports, prices, limits)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate import telemetry

    telemetry.setup(args.service, settings.log_level)
    if args.service == "gateway":
        from services.gateway.main import main as serve
    elif args.service == "router":
        from services.router.main import main as serve
    elif args.service == "metering":
        from services.metering.main import main as serve
    else:
        from services.budget.main import main as serve
    serve(settings)
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli import supervisor

    _engine(settings).dispose()
    providers = ", ".join(f"{p.name} ({p.kind})" for p in settings.providers)
    print(f"tollgate: state in {settings.home}; providers: {providers}", flush=True)
    return supervisor.run(settings)


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    _engine(settings).dispose()
    print("the database is at the current schema, with the default prices")
    return 0


def cmd_project_create(settings: Settings, args: argparse.Namespace) -> int:
    project = admin.create_project(
        _engine(settings), args.name, currency=args.currency, monthly_budget=args.monthly_budget
    )
    budget = f"{project.currency} {project.monthly_budget}" if project.monthly_budget else "none"
    print(f"created project {project.name} ({project.id}); monthly budget: {budget}")
    return 0


def cmd_project_list(settings: Settings, args: argparse.Namespace) -> int:
    projects = admin.list_projects(_engine(settings))
    if args.json:
        print(
            json.dumps([{**p.__dict__, "created_at": p.created_at.isoformat()} for p in projects])
        )
        return 0
    print(f"{'ID':<22} {'NAME':<24} {'CURRENCY':<8} {'MULTIPLIER':<10} MONTHLY BUDGET")
    for p in projects:
        print(
            f"{p.id:<22} {p.name:<24} {p.currency:<8} {p.price_multiplier:<10} "
            f"{p.monthly_budget or '-'}"
        )
    return 0


def cmd_project_budget(settings: Settings, args: argparse.Namespace) -> int:
    amount = None if args.amount.lower() == "none" else args.amount
    project = admin.set_monthly_budget(_engine(settings), args.name, amount)
    print(f"{project.name}: monthly budget {project.monthly_budget or 'none'} {project.currency}")
    return 0


def cmd_key_create(settings: Settings, args: argparse.Namespace) -> int:
    created = admin.create_key(_engine(settings), args.project, args.name or "")
    if args.json:
        print(json.dumps({"id": created.info.id, "secret": created.secret}))
        return 0
    print(f"created key {created.info.id} for project {args.project}")
    print("secret (shown once; store it now):")
    print(created.secret)
    return 0


def cmd_key_list(settings: Settings, args: argparse.Namespace) -> int:
    keys = admin.list_keys(_engine(settings), args.project)
    print(f"{'ID':<22} {'PREFIX':<14} {'NAME':<20} {'CREATED':<20} STATUS")
    for k in keys:
        since = k.revoked_at or k.paused_at
        status = f"{k.status} {since:%Y-%m-%d %H:%M}" if since else k.status
        created = f"{k.created_at:%Y-%m-%d %H:%M}"
        print(f"{k.id:<22} {k.prefix + '…':<14} {k.name:<20} {created:<20} {status}")
    return 0


def cmd_key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    key = admin.revoke_key(_engine(settings), args.key_id)
    print(f"revoked key {key.id}; calls with it are refused from the next request")
    return 0


def cmd_mock_upstream(args: argparse.Namespace) -> int:
    """Needs no settings: it is a stand-in upstream, not part of the suite."""
    return mock_upstream.run(args)


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.grpcutil import check_health

    addr = args.addr or settings.addrs[args.service]
    healthy = check_health(addr, timeout=2)
    print(f"{addr}: {'SERVING' if healthy else 'NOT SERVING'}")
    return 0 if healthy else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    command = add_command
    p = command(sub, "serve", cmd_serve, "run one service in this process")
    p.add_argument("service", choices=SERVICES)
    command(sub, "up", cmd_up, "run the whole suite, restarting crashed services")
    p = command(sub, "health", cmd_health, "check a service with the gRPC health protocol")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--addr", help="address to check (default: the configured one)")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    command(db, "upgrade", cmd_db_upgrade, "apply migrations and seed the default prices")

    project = sub.add_parser("project", help="projects").add_subparsers(dest="sub", required=True)
    p = command(project, "create", cmd_project_create, "create a project")
    p.add_argument("name")
    p.add_argument("--monthly-budget", help="hard monthly limit, e.g. 500 (default: none)")
    p.add_argument("--currency", default="CNY", help="CNY or USD (default CNY)")
    p = command(project, "list", cmd_project_list, "list projects")
    p.add_argument("--json", action="store_true")
    p = command(project, "budget", cmd_project_budget, "set or clear (none) a monthly budget")
    p.add_argument("name")
    p.add_argument("amount")
    prices.register_project_commands(project)

    key = sub.add_parser("key", help="API keys").add_subparsers(dest="sub", required=True)
    p = command(key, "create", cmd_key_create, "create a key; prints its secret once")
    p.add_argument("--project", required=True)
    p.add_argument("--name", help="a label for the key")
    p.add_argument("--json", action="store_true")
    p = command(key, "list", cmd_key_list, "list a project's keys")
    p.add_argument("--project", required=True)
    p = command(key, "revoke", cmd_key_revoke, "revoke a key from the next request on")
    p.add_argument("key_id")
    p = command(key, "resume", alerts.cmd_key_resume, "resume a key paused by a spike alert")
    p.add_argument("key_id")

    for topic in TOPICS:
        topic.register(sub)

    p = sub.add_parser(
        "mock-upstream", help="a local test upstream (OpenAI, Anthropic or Gemini format)"
    )
    p.set_defaults(fn=None)
    mock_upstream.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        if args.fn is None:
            code = cmd_mock_upstream(args)
        else:
            code = args.fn(load_settings(), args)
    except (ConfigError, admin.AdminError, MoneyError, ValueError) as exc:
        print(f"tollgate: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `tollgate price list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
