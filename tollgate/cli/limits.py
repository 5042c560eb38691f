"""`tollgate limit ...`: rate limits on projects and keys, over Budget's admin RPCs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from google.protobuf import struct_pb2

from tollgate.cli import rpc
from tollgate.cli.common import add_command
from tollgate.config import Settings
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2

# CLI option -> limit.
OPTIONS = {"rpm": "rpm", "tpm": "tpm", "concurrency": "max_concurrent"}


def _shown(value: int | None) -> str:
    return "-" if value is None else str(value)


def _describe(info: dict[str, Any]) -> str:
    return (
        f"{info['owner']}: {_shown(info['rpm'])} requests/min, {_shown(info['tpm'])} "
        f"tokens/min, {_shown(info['max_concurrent'])} concurrent"
    )


def _with_option(message: str) -> str:
    """Budget's message with the limit named as the option given ("--concurrency")."""
    for option, limit in OPTIONS.items():
        if message.startswith(f"{limit} "):
            return f"--{option}{message[len(limit) :]}"
    return message


def cmd_set(settings: Settings, args: argparse.Namespace) -> int:
    given = {
        limit: struct_pb2.Value(string_value=getattr(args, option))
        for option, limit in OPTIONS.items()
        if getattr(args, option) is not None
    }
    if not given:
        raise ValueError("name at least one limit: --rpm, --tpm or --concurrency")
    wanted = budget_pb2.SetLimitsRequest(project=args.project, key_id=args.key, limits=given)
    try:
        with rpc.budget(settings) as budget:
            reply = budget.SetLimits(wanted)
    except ValueError as exc:
        raise ValueError(_with_option(str(exc))) from None
    owner = f"{args.project}/{args.key}" if args.key else args.project
    print(
        _describe(as_dict(reply.limits)) if reply.HasField("limits") else f"{owner}: no rate limits"
    )
    print("gateways apply the change within a few seconds")
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with rpc.budget(settings) as budget:
        listed = budget.ListLimits(budget_pb2.ListLimitsRequest(project=args.project))
    shown = [as_dict(info) for info in listed.limits]
    if args.json:
        print(json.dumps(shown))
        return 0
    print(f"{'OWNER':<48} {'RPM':>10} {'TPM':>12} {'CONCURRENT':>10}  UPDATED")
    for info in shown:
        print(
            f"{info['owner']:<48} {_shown(info['rpm']):>10} {_shown(info['tpm']):>12} "
            f"{_shown(info['max_concurrent']):>10}  {info['updated_at'][:19]}"
        )
    return 0


def cmd_clear(settings: Settings, args: argparse.Namespace) -> int:
    owner = f"key {args.key}" if args.key else f"project {args.project}"
    wanted = budget_pb2.ClearLimitsRequest(project=args.project, key_id=args.key)
    with rpc.budget(settings) as budget:
        cleared = budget.ClearLimits(wanted).cleared
    if not cleared:
        raise ValueError(f"{owner} has no rate limits")
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
