"""`tollgate key ...`: project keys, over Budget's admin RPCs: create (optionally
expiring), list, revoke, rotate (a new secret, the old one kept for a grace), resume."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from tollgate.cli import rpc
from tollgate.cli.alerts import cmd_key_resume
from tollgate.cli.common import add_command
from tollgate.config import Settings
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d{1,9})([smhdw])")


def parse_duration(text: str, option: str) -> int:
    """`30d`, `24h`, `90m`, `45s`, `2w` (or a bare number of seconds) in seconds."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value)
    found = _DURATION.fullmatch(value)
    if found is None:
        raise ValueError(f"{option}: {text!r} is not a duration such as 30d, 24h, 90m or 45s")
    return int(found.group(1)) * _UNITS[found.group(2)]


def _expiry(args: argparse.Namespace) -> dict[str, Any]:
    if args.expires_in and args.expires_at:
        raise ValueError("give --expires-in or --expires-at, not both")
    if args.expires_in:
        return {"expires_in_seconds": parse_duration(args.expires_in, "--expires-in")}
    return {"expires_at": args.expires_at} if args.expires_at else {}


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")  # "2026-11-30T08:15:..." -> "2026-11-30 08:15"


def cmd_create(settings: Settings, args: argparse.Namespace) -> int:
    wanted = budget_pb2.CreateKeyRequest(
        project=args.project, name=args.name or "", **_expiry(args)
    )
    with rpc.budget(settings) as budget:
        created = budget.CreateKey(wanted)
    expires = created.key.expires_at if created.key.HasField("expires_at") else None
    if args.json:
        print(json.dumps({"id": created.key.id, "secret": created.secret, "expires_at": expires}))
        return 0
    print(f"created key {created.key.id} for project {args.project}")
    if expires:
        print(f"it expires at {_minute(expires)} UTC")
    print("secret (shown once; store it now):")
    print(created.secret)
    return 0


def cmd_rotate(settings: Settings, args: argparse.Namespace) -> int:
    grace = parse_duration(args.grace, "--grace")
    wanted = budget_pb2.RotateKeyRequest(key_id=args.key_id, grace_seconds=grace, **_expiry(args))
    with rpc.budget(settings) as budget:
        rotated = budget.RotateKey(wanted)
    key = as_dict(rotated.key)
    if args.json:
        print(json.dumps({"id": key["id"], "secret": rotated.secret, **_times(key)}))
        return 0
    print(f"rotated key {key['id']}: a new secret, the same key (budgets, limits, policy stay)")
    old = key["previous_expires_at"]
    print(
        f"the old secret works until {_minute(old)} UTC"
        if old
        else "the old secret is refused from now on"
    )
    if key["expires_at"]:
        print(f"the key expires at {_minute(key['expires_at'])} UTC")
    print("new secret (shown once; store it now):")
    print(rotated.secret)
    return 0


def _times(key: dict[str, Any]) -> dict[str, Any]:
    return {"expires_at": key["expires_at"], "previous_expires_at": key["previous_expires_at"]}


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with rpc.budget(settings) as budget:
        listed = budget.ListKeys(budget_pb2.ProjectRef(project=args.project))
    print(f"{'ID':<22} {'PREFIX':<14} {'NAME':<20} {'CREATED':<20} STATUS")
    for k in map(as_dict, listed.keys):
        since = k["revoked_at"] or k["paused_at"]
        status = f"{k['status']} {_minute(since)}" if since else k["status"]
        if k["expires_at"] and k["status"] != "revoked":
            status += f" (expires {_minute(k['expires_at'])})"
        print(
            f"{k['id']:<22} {k['prefix'] + '…':<14} {k['name']:<20} "
            f"{_minute(k['created_at']):<20} {status}"
        )
    return 0


def cmd_revoke(settings: Settings, args: argparse.Namespace) -> int:
    with rpc.budget(settings) as budget:
        key = budget.RevokeKey(budget_pb2.KeyRef(key_id=args.key_id))
    print(f"revoked key {key.id}; calls with it are refused from the next request")
    return 0


def _expiry_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--expires-in", help=f"{what} after this long: 30d, 24h, 90m")
    p.add_argument("--expires-at", help=f"{what} at this time: 2027-01-01T00:00Z")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `tollgate key ...` to the `tollgate` parser."""
    key = sub.add_parser("key", help="API keys").add_subparsers(dest="sub", required=True)
    p = add_command(key, "create", cmd_create, "create a key; prints its secret once")
    p.add_argument("--project", required=True)
    p.add_argument("--name", help="a label for the key")
    _expiry_options(p, "the key stops working")
    p.add_argument("--json", action="store_true")
    p = add_command(key, "list", cmd_list, "list a project's keys")
    p.add_argument("--project", required=True)
    p = add_command(key, "revoke", cmd_revoke, "revoke a key from the next request on")
    p.add_argument("key_id")
    p = add_command(
        key, "rotate", cmd_rotate, "a new secret for a key; the old one works for --grace"
    )
    p.add_argument("key_id")
    p.add_argument("--grace", default="0", help="how long the old secret still works: 24h")
    _expiry_options(p, "the key (new secret) stops working")
    p.add_argument("--json", action="store_true")
    p = add_command(key, "resume", cmd_key_resume, "resume a key paused by a spike alert")
    p.add_argument("key_id")
