"""`tollgate audit list`: the audit log of operator changes, newest first, over
Budget's ListAuditEvents (or GET /admin/audit with --url)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tollgate.cli import rpc
from tollgate.cli.common import add_command
from tollgate.cli.keys import parse_duration
from tollgate.config import Settings
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2

PAGE = 1000


def _since(text: str | None) -> str | None:
    """A time as Budget takes it; a duration (7d, 24h) means that long ago."""
    if not text:
        return None
    try:
        seconds = parse_duration(text, "--since")
    except ValueError:
        return text  # a time or a date: Budget checks it
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def _loaded(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


def change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """The fields that changed, `name: old -> new`; created or deleted objects whole."""
    if before is None or after is None:
        shown = after if before is None else before
        word = "created" if before is None else "deleted"
        fields = ", ".join(f"{k}={v}" for k, v in sorted((shown or {}).items()) if v is not None)
        return f"{word}: {fields}"
    names = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return ", ".join(f"{k}: {before.get(k)} -> {after.get(k)}" for k in names)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100_000:
        raise ValueError("--limit must be from 1 to 100000")
    wanted = budget_pb2.ListAuditEventsRequest(
        project=args.project, since=_since(args.since), until=args.until, action=args.action
    )
    events: list[dict[str, Any]] = []
    with rpc.budget(settings) as budget:
        while len(events) < args.limit:
            wanted.limit = min(PAGE, args.limit - len(events))
            page = budget.ListAuditEvents(wanted)
            events.extend(as_dict(e) for e in page.events)
            if not page.HasField("next_before_id") or not page.events:
                break
            wanted.before_id = page.next_before_id
    for event in events:
        event["before"], event["after"] = _loaded(event["before"]), _loaded(event["after"])
    if args.json:
        print(json.dumps(events, ensure_ascii=False))
        return 0
    print(f"{'AT (UTC)':<20} {'ACTOR':<20} {'ACTION':<18} {'TARGET':<30} CHANGE")
    for e in events:
        print(
            f"{e['at'][:19].replace('T', ' '):<20} {e['actor']:<20} {e['action']:<18} "
            f"{e['target']:<30} {change(e['before'], e['after'])}"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `tollgate audit ...` to the `tollgate` parser."""
    audit = sub.add_parser("audit", help="the audit log of operator changes").add_subparsers(
        dest="sub", required=True
    )
    p = add_command(audit, "list", cmd_list, "operator changes, newest first: who, what, when")
    p.add_argument("--project", help="only this project's changes (name or id)")
    p.add_argument("--since", help="from this time (2026-12-01, 2026-12-01T08:00Z) or ago (7d)")
    p.add_argument("--until", help="before this time")
    p.add_argument("--action", help="only this action (budget.set) or topic (budget)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
