"""`tollgate limit ...`: rate limits on projects and keys."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from services.gateway.ratelimit.store import (
    LimitError,
    LimitInfo,
    clear_limits,
    list_limits,
    parse_limit,
    set_limits,
)
from tollgate.cli.common import add_command, engine_for
from tollgate.config import Settings

# CLI option -> column.
OPTIONS = {"rpm": "rpm", "tpm": "tpm", "concurrency": "max_concurrent"}


def _shown(value: int | None) -> str:
    return "-" if value is None else str(value)


def _describe(info: LimitInfo) -> str:
    return (
        f"{info.owner}: {_shown(info.rpm)} requests/min, {_shown(info.tpm)} tokens/min, "
        f"{_shown(info.max_concurrent)} concurrent"
    )


def cmd_set(settings: Settings, args: argparse.Namespace) -> int:
    given = {
        column: getattr(args, option)
        for option, column in OPTIONS.items()
        if getattr(args, option) is not None
    }
    if not given:
        raise LimitError("name at least one limit: --rpm, --tpm or --concurrency")
    for option, column in OPTIONS.items():
        if column in given:
            parse_limit(f"--{option}", given[column])  # name the option in the message
    info = set_limits(engine_for(settings), args.project, key_id=args.key, **given)
    owner = f"{args.project}/{args.key}" if args.key else args.project
    print(_describe(info) if info else f"{owner}: no rate limits")
    print("gateways apply the change within a few seconds")
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    shown = list_limits(engine_for(settings), args.project)
    if args.json:
        print(json.dumps([{**asdict(info), "owner": info.owner} for info in shown]))
        return 0
    print(f"{'OWNER':<48} {'RPM':>10} {'TPM':>12} {'CONCURRENT':>10}  UPDATED")
    for info in shown:
        print(
            f"{info.owner:<48} {_shown(info.rpm):>10} {_shown(info.tpm):>12} "
            f"{_shown(info.max_concurrent):>10}  {info.updated_at[:19]}"
        )
    return 0


def cmd_clear(settings: Settings, args: argparse.Namespace) -> int:
    owner = f"key {args.key}" if args.key else f"project {args.project}"
    if not clear_limits(engine_for(settings), args.project, key_id=args.key):
        raise LimitError(f"{owner} has no rate limits")
    print(f"cleared the rate limits of {owner}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this topic's commands to the `tollgate` parser."""
    limit = sub.add_parser("limit", help="rate limits on projects and keys").add_subparsers(
        dest="sub", required=True
    )
    p = add_command(limit, "set", cmd_set, "set requests/min, tokens/min or concurrent requests")
    p.add_argument("--project", required=True)
    p.add_argument("--key", metavar="KEY_ID", help="a key of the project (default: the project)")
    p.add_argument("--rpm", metavar="N", help="requests per minute ('none': no limit)")
    p.add_argument("--tpm", metavar="N", help="tokens per minute ('none': no limit)")
    p.add_argument("--concurrency", metavar="N", help="requests running at once ('none': no limit)")
    p = add_command(limit, "list", cmd_list, "the rate limits of every project and key")
    p.add_argument("--project")
    p.add_argument("--json", action="store_true")
    p = add_command(limit, "clear", cmd_clear, "remove every rate limit of a project or key")
    p.add_argument("--project", required=True)
    p.add_argument("--key", metavar="KEY_ID")
