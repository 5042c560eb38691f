"""`tollgate alert ...`: budget and spike alerts, their webhook deliveries, and the
resume of keys a spike paused; over Budget's admin RPCs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tollgate.cli import rpc
from tollgate.cli.common import add_command
from tollgate.config import Settings
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2


def _result(attempt: dict[str, Any]) -> str:
    if attempt["delivered"]:
        return "delivered"
    return str(attempt["error"] or f"HTTP {attempt['status_code']}")


def cmd_alert_list(settings: Settings, args: argparse.Namespace) -> int:
    wanted = budget_pb2.ListAlertsRequest(project=args.project, limit=args.limit)
    with rpc.budget(settings) as budget:
        alerts = [as_dict(a) for a in budget.ListAlerts(wanted).alerts]
    if args.json:
        print(json.dumps(alerts, indent=2))
        return 0
    print(
        f"{'ID':>5} {'CREATED':<17} {'KIND':<9} {'PROJECT':<16} {'STATE':<11} {'TRIES':>5}  MESSAGE"
    )
    for a in alerts:
        created = (a["created_at"] or "")[:16].replace("T", " ")
        print(
            f"{a['id']:>5} {created:<17} {a['kind']:<9} {a['project']:<16} {a['state']:<11} "
            f"{len(a['attempts']):>5}  {a['message']}"
        )
        for t in a["attempts"]:
            print(f"{'':>6}attempt {t['attempt']} to {t['webhook']}: {_result(t)}")
    return 0


def cmd_alert_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    """The webhooks Budget delivers to (its configuration, not this command's)."""
    with rpc.budget(settings) as budget:
        listed = budget.ListWebhooks(budget_pb2.ListWebhooksRequest())
    hooks = [as_dict(h) for h in listed.webhooks]
    if args.json:
        print(json.dumps(hooks))
        return 0
    if not hooks:
        print("no webhooks configured (TOLLGATE_ALERT_WEBHOOKS or alerts.webhooks in the YAML)")
    for h in hooks:
        print(f"{h['target']}  for {h['project'] or 'every project'}")
    return 0


def cmd_alert_test(settings: Settings, args: argparse.Namespace) -> int:
    """Budget records a test event and delivers it now, one attempt per webhook."""
    with rpc.budget(settings) as budget:
        sent = as_dict(budget.TestAlert(budget_pb2.TestAlertRequest(project=args.project)).alert)
    for t in sent["attempts"]:
        print(f"{t['webhook']}: {_result(t)}")
    if not sent["attempts"]:
        print("no webhook applies to this project")
    return 0 if sent["state"] == "delivered" else 1


def cmd_key_resume(settings: Settings, args: argparse.Namespace) -> int:
    with rpc.budget(settings) as budget:
        resumed = budget.ResumeKey(budget_pb2.KeyRef(key_id=args.key_id))
    if resumed.was_paused:
        print(f"resumed key {args.key_id}; its calls are accepted again")
    else:
        print(f"key {args.key_id} was not paused")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `tollgate alert ...` to the `tollgate` parser."""
    alert = sub.add_parser("alert", help="budget and spike alerts").add_subparsers(
        dest="sub", required=True
    )
    p = add_command(alert, "list", cmd_alert_list, "alerts, newest first, with their deliveries")
    p.add_argument("--project", help="only this project's alerts (name or id)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p = add_command(alert, "webhooks", cmd_alert_webhooks, "the configured webhooks (redacted)")
    p.add_argument("--json", action="store_true")
    p = add_command(alert, "test", cmd_alert_test, "send a test alert to every webhook now")
    p.add_argument("--project", help="send as this project's alert (for scoped webhooks)")
    p = add_command(alert, "resume", cmd_key_resume, "resume a key paused by a spike alert")
    p.add_argument("key_id")
