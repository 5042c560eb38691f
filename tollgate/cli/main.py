"""The `tollgate` command: run the services, and manage projects, keys, prices and bills."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tollgate.cli import state
from tollgate.cli.common import add_command
from tollgate.cli.common import engine_for as _engine
from tollgate.cli.failures import report
from tollgate.config import Settings, load_settings
from tollgate.settings.model import UpMode

# Nothing above loads SQLAlchemy, gRPC, tiktoken or a service: `tollgate --help` lists
# the commands from COMMANDS (below) by name, and a command declares in full, and
# imports, only what it runs (tests/test_cli_speed.py holds this).

SERVICES = ("gateway", "router", "metering", "budget")
# Hosts of several services in one process (tollgate/cli/one_process.py): all four,
# front (gateway and router) and back (budget and metering).
GROUPS = ("all", "front", "back")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate import gcfreeze, telemetry

    gcfreeze.freeze_later()

    if args.service in GROUPS:
        from tollgate.cli import one_process

        telemetry.setup_service(args.service, settings)
        return one_process.run(settings, args.service)
    telemetry.setup_service(args.service, settings)
    # The launcher starts a service by its module's name and uses none of its code: the
    # CLI stays a client (tests/test_layers.py holds every other module to that).
    service = importlib.import_module(f"services.{args.service}.main")
    service.main(settings)
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli import supervisor

    taken = supervisor.taken_ports(settings)
    if taken:  # before anything starts: another suite (or program) serves there
        print(f"tollgate: cannot start: {taken}", file=sys.stderr)
        return 1
    mode = UpMode(args.mode) if args.mode else settings.up_mode
    providers = ", ".join(f"{p.name} ({p.kind})" for p in settings.providers)
    print(
        f"tollgate: state in {settings.home}; providers: {providers}; {mode.explained}",
        flush=True,
    )
    return supervisor.run(settings, mode)


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    _engine(settings).dispose()
    print("the database is at the current schema (Budget seeds default prices as it starts)")
    return 0


def cmd_project_create(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli import rpc
    from tollgate.v1 import budget_pb2

    wanted = budget_pb2.CreateProjectRequest(
        name=args.name, currency=args.currency, monthly_budget=args.monthly_budget
    )
    with rpc.budget(settings) as budget:
        project = budget.CreateProject(wanted)
    shown = project.monthly_budget if project.HasField("monthly_budget") else None
    amount = f"{project.currency} {shown}" if shown else "none"
    print(f"created project {project.name} ({project.id}); monthly budget: {amount}")
    return 0


def cmd_project_list(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli import rpc
    from tollgate.protodict import as_dict
    from tollgate.v1 import budget_pb2

    with rpc.budget(settings) as budget:
        listed = budget.ListProjects(budget_pb2.ListProjectsRequest())
    projects = [as_dict(p) for p in listed.projects]
    if args.json:
        print(json.dumps(projects))
        return 0
    print(f"{'ID':<22} {'NAME':<24} {'CURRENCY':<8} {'MULTIPLIER':<10} MONTHLY BUDGET")
    for p in projects:
        print(
            f"{p['id']:<22} {p['name']:<24} {p['currency']:<8} {p['price_multiplier']:<10} "
            f"{p['monthly_budget'] or '-'}"
        )
    return 0


def cmd_project_budget(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli import rpc
    from tollgate.v1 import budget_pb2

    amount = None if args.amount.lower() == "none" else args.amount
    with rpc.budget(settings) as budget:
        project = budget.SetMonthlyBudget(
            budget_pb2.SetMonthlyBudgetRequest(project=args.name, amount=amount)
        )
    shown = project.monthly_budget if project.HasField("monthly_budget") else "none"
    print(f"{project.name}: monthly budget {shown} {project.currency}")
    return 0


def cmd_mock_upstream(args: argparse.Namespace) -> int:
    """Needs no settings: it is a stand-in upstream, not part of the suite."""
    from tollgate.cli import mock_upstream

    return mock_upstream.run(args)


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.cli.health import Health, probe
    from tollgate.grpcutil import credential_of, use_credential

    # The health check itself needs no token (TLS, when set, it does); the token, when
    # there is one, lets it read metering's dead letters too.
    use_credential(credential_of(settings, create_token=False))
    addr = args.addr or settings.addrs[args.service]
    health, why = probe(addr, timeout=2)
    print(f"{addr}: {health}" + (f" ({why})" if why else ""))
    if health is Health.SERVING and args.service == "metering":
        from tollgate.cli.deadletters import dead_letter_note

        note = dead_letter_note(addr)
        if note:
            print(f"{addr}: {note}")
    return 0 if health is Health.SERVING else 1


SubParsers = argparse._SubParsersAction  # type: ignore[type-arg]
command = add_command


def _declare_serve(sub: SubParsers, help: str) -> None:
    p = command(sub, "serve", cmd_serve, help)
    p.add_argument(
        "service",
        choices=(*SERVICES, *GROUPS),
        help="a service; or several in one process: all four, front (gateway and router), "
        "back (budget and metering)",
    )


def _declare_up(sub: SubParsers, help: str) -> None:
    p = command(sub, "up", cmd_up, help)
    modes = p.add_mutually_exclusive_group()
    modes.add_argument(
        "--one-process",
        dest="mode",
        action="store_const",
        const=UpMode.ONE.value,
        help="the four services in one process, the least memory (TOLLGATE_UP_MODE=one)",
    )
    modes.add_argument(
        "--two-processes",
        dest="mode",
        action="store_const",
        const=UpMode.TWO.value,
        help="gateway and router in one process, budget and metering in another "
        "(the default; TOLLGATE_UP_MODE=two)",
    )
    modes.add_argument(
        "--split",
        dest="mode",
        action="store_const",
        const=UpMode.SPLIT.value,
        help="each service in a process of its own (TOLLGATE_UP_MODE=split)",
    )


def _declare_health(sub: SubParsers, help: str) -> None:
    p = command(sub, "health", cmd_health, help)
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--addr", help="address to check (default: the configured one)")


def _declare_db(sub: SubParsers, help: str) -> None:
    db = sub.add_parser("db", help=help).add_subparsers(dest="db", required=True)
    command(db, "upgrade", cmd_db_upgrade, "apply migrations and seed the default prices")


def _declare_project(sub: SubParsers, help: str) -> None:
    from tollgate.cli import prices

    project = sub.add_parser("project", help=help).add_subparsers(dest="sub", required=True)
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


def _declare_mock_upstream(sub: SubParsers, help: str) -> None:
    from tollgate.cli import mock_upstream

    p = sub.add_parser("mock-upstream", help=help)
    p.set_defaults(fn=None)
    mock_upstream.add_arguments(p)


def _topic(module: str) -> Callable[[SubParsers, str], None]:
    """A command group that lives in tollgate/cli/<module>.py, with `register(sub)`."""

    def declare(sub: SubParsers, help: str) -> None:
        importlib.import_module(f"tollgate.cli.{module}").register(sub)

    return declare


@dataclass(frozen=True)
class Entry:
    help: str  # the one line `tollgate --help` shows
    declare: Callable[[SubParsers, str], None]  # adds the command in full (imports its module)


# Every command, in the order `tollgate --help` lists them. A topic's help repeats the
# one its module declares (tests/test_cli_speed.py checks they agree).
COMMANDS: dict[str, Entry] = {
    "serve": Entry("run one service in this process", _declare_serve),
    "up": Entry("run the whole suite, restarting crashed services", _declare_up),
    "health": Entry("check a service with the gRPC health protocol", _declare_health),
    "db": Entry("database schema", _declare_db),
    "project": Entry("projects", _declare_project),
    "key": Entry("API keys", _topic("keys")),
    "budget": Entry("budgets on projects and keys", _topic("budgets")),
    "alert": Entry("budget and spike alerts", _topic("alerts")),
    "bill": Entry("a project's bill for a month, with a forecast", _topic("reports")),
    "report": Entry(
        "usage over UTC days, grouped by project/key/model/user/day", _topic("reports")
    ),
    "calls": Entry("a project's calls, one record each, as they started", _topic("reports")),
    "price": Entry("the price catalogue", _topic("prices")),
    "limit": Entry("rate limits on projects and keys", _topic("limits")),
    "policy": Entry("model policies of projects and keys", _topic("policies")),
    "audit": Entry("the audit log of operator changes", _topic("audit")),
    "routes": Entry("routes, deployments, weights, cooldowns and recent errors", _topic("routes")),
    "mock-upstream": Entry(
        "a local test upstream (OpenAI, Anthropic or Gemini format)", _declare_mock_upstream
    ),
}
# Commands that make a suite's state folder; every other one uses an existing one.
MAKES_STATE = {("up", None), ("serve", None), ("db", "upgrade")}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `tollgate` parser: every command in full (only=None), or only the command
    named in full and the others by name and help ("": none in full)."""
    parser = argparse.ArgumentParser(prog="tollgate", description=__doc__)
    parser.add_argument(
        "--url",
        default=os.environ.get("TOLLGATE_URL") or None,
        help="run an operator command against a remote gateway's admin API, with "
        "TOLLGATE_ADMIN_TOKEN (default: TOLLGATE_URL; none: the local suite over gRPC)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, entry in COMMANDS.items():
        if (only is None or name == only) and name not in sub.choices:
            entry.declare(sub, entry.help)  # a module may declare several commands
    for name, entry in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=entry.help)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command argv names ("" for none: a bare --help); None for a name COMMANDS
    does not know, so the whole parser is built and argparse answers it."""
    values = {i + 1 for i, arg in enumerate(argv) if arg == "--url"}  # `--url URL`
    name = next(
        (arg for i, arg in enumerate(argv) if not arg.startswith("-") and i not in values), ""
    )
    return name if name == "" or name in COMMANDS else None


def _state_env(args: argparse.Namespace) -> Mapping[str, str]:
    """The environment to load settings from: pointed at the running suite's state when
    that is the one to use; a command that would make a new state refuses instead."""
    env = os.environ
    if (args.command, getattr(args, "db", None)) in MAKES_STATE:
        return env
    found = state.find_state(env, Path.cwd())
    if found is None:
        if args.command == "health" or state.needs_no_state(env):
            return env
        raise state.NoStateError(state.no_state_message(Path.cwd()))
    if found.source is state.StateSource.RUNNING_SUITE:
        print(
            f"tollgate: using {found.home}, the state of the running `tollgate up` "
            f"(pid {found.pid})",
            file=sys.stderr,
        )
        return {**env, "TOLLGATE_HOME": str(found.home)}
    return env


def _run(args: argparse.Namespace) -> int:
    if args.fn is None:
        return cmd_mock_upstream(args)
    if args.url:
        return _run_remote(args)
    # `serve` hands its service only what that service may hold (no upstream keys in
    # the gateway, no admin token in the router).
    service = args.service if args.command == "serve" and args.service in SERVICES else None
    code: int = args.fn(load_settings(_state_env(args), service), args)
    return code


def _run_remote(args: argparse.Namespace) -> int:
    """The command against the gateway at --url, with no local state."""
    from tollgate.cli import remote

    sub = getattr(args, "sub", None) or getattr(args, "report_action", None)
    refused = remote.unsupported(args.command, sub)
    if refused:
        print(f"tollgate: {refused}", file=sys.stderr)
        return 2
    settings = load_settings(os.environ)
    with remote.using(remote.target_of(args.url, settings.admin_token)):
        code: int = args.fn(settings, args)
    return code


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
    try:
        code = _run(args)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `tollgate price list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except Exception as exc:  # an expected failure is one line; anything else a bug
        explained = report(exc)
        if explained is None:
            raise
        code = explained
    sys.exit(code)
