"""`tollgate alert ...`: budget and spike alerts, their webhook deliveries, and the
resume of keys a spike paused."""

from __future__ import annotations

import argparse
import dataclasses
import json
import uuid
from datetime import timedelta

from tollgate import admin
from tollgate.alertlog import list_alerts
from tollgate.cli.common import add_command, engine_for
from tollgate.config import Settings
from tollgate.db import utcnow

__all__ = ["list_alerts", "register"]


def cmd_alert_list(settings: Settings, args: argparse.Namespace) -> int:
    alerts = list_alerts(engine_for(settings), args.project, args.limit)
    if args.json:
        print(json.dumps(alerts, indent=2))
        return 0
    print(
        f"{'ID':>5} {'CREATED':<17} {'KIND':<9} {'PROJECT':<16} {'STATE':<11} {'TRIES':>5}  MESSAGE"
    )
    for a in alerts:
        created = a["created_at"][:16].replace("T", " ")
        print(
            f"{a['id']:>5} {created:<17} {a['kind']:<9} {a['project']:<16} {a['state']:<11} "
            f"{len(a['attempts']):>5}  {a['message']}"
        )
        for t in a["attempts"]:
            result = "delivered" if t["delivered"] else (t["error"] or f"HTTP {t['status_code']}")
            print(f"{'':>6}attempt {t['attempt']} to {t['webhook']}: {result}")
    return 0


def cmd_alert_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    hooks = [
        {"webhook": h.fingerprint, "format": h.format, "target": h.label, "project": h.project}
        for h in settings.alerts.webhooks
    ]
    if args.json:
        print(json.dumps(hooks))
        return 0
    if not hooks:
        print("no webhooks configured (TOLLGATE_ALERT_WEBHOOKS or alerts.webhooks in the YAML)")
    for h in hooks:
        print(f"{h['target']}  for {h['project'] or 'every project'}")
    return 0


def cmd_alert_test(settings: Settings, args: argparse.Namespace) -> int:
    """Record a test event and deliver it now, one attempt per webhook."""
    import httpx

    from services.budget.alerts.delivery import deliver_event
    from services.budget.alerts.events import event_row, insert_event

    if not settings.alerts.webhooks:
        raise ValueError("no webhooks configured: set TOLLGATE_ALERT_WEBHOOKS or alerts.webhooks")
    engine = engine_for(settings)
    project = admin.get_project(engine, args.project) if args.project else None
    now, worker = utcnow(), f"cli:{uuid.uuid4().hex[:8]}"
    row = event_row(
        now,
        kind="test",
        subject=f"test:{uuid.uuid4().hex}",
        project_id=project.id if project else "",
        period="test",
        period_key=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        threshold=0,
        amount_nano=0,
        currency=project.currency if project else "",
        message=f"tollgate test alert{f' for project {project.name}' if project else ''}: "
        "webhook delivery works",
    )
    # Claimed from the start, so a running budget service does not deliver it too.
    row.update(
        claimed_by=worker, lease_until=now + timedelta(seconds=settings.alerts.lease_seconds)
    )
    with engine.begin() as conn:
        event_id = insert_event(conn, row)
    assert event_id is not None  # its subject is new
    once = dataclasses.replace(settings.alerts, max_attempts=1)
    with httpx.Client(timeout=once.timeout_seconds) as client:
        deliver_event(engine, client, event_id, worker, once, once.webhooks)
    [alert] = [a for a in list_alerts(engine, None, 50) if a["id"] == event_id]
    for t in alert["attempts"]:
        result = "delivered" if t["delivered"] else (t["error"] or f"HTTP {t['status_code']}")
        print(f"{t['webhook']}: {result}")
    if not alert["attempts"]:
        print("no webhook applies to this project")
    return 0 if alert["state"] == "delivered" else 1


def cmd_key_resume(settings: Settings, args: argparse.Namespace) -> int:
    from services.budget.alerts.spikes import resume_key

    was_paused = resume_key(engine_for(settings), args.key_id, utcnow())
    if was_paused is None:
        raise ValueError(f"no key with id {args.key_id!r}")
    if was_paused:
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
