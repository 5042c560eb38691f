"""Webhook delivery: each format's exact body, retries with backoff, every attempt
logged, no URL secret in logs, and two workers delivering each event once."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import Engine, select

from services.budget.admin import operations as admin
from services.budget.admin.alerts import list_alerts
from services.budget.alerts import Crossing, record_crossings
from services.budget.alerts.delivery import deliver_due
from tests.budget.alert_receiver import receiver
from tollgate.alertconfig import AlertSettings, WebhookConfig
from tollgate.db import make_engine, utcnow
from tollgate.db.models import ALERT_DELIVERIES, ALERT_EVENTS

CNY = 1_000_000_000
FAST = AlertSettings(backoff_seconds=0.05, max_backoff_seconds=1.0, timeout_seconds=2.0)


def setup(url: str) -> tuple[Engine, str]:
    engine = make_engine(url)
    return engine, admin.create_project(engine, "acme", currency="CNY").id


def cross(engine: Engine, project_id: str, budget_id: int = 1, after: int = 800 * CNY) -> None:
    with engine.begin() as conn:
        record_crossings(
            conn,
            [
                Crossing(
                    budget_id=budget_id,
                    project_id=project_id,
                    key_id=None,
                    period="daily",
                    period_key="2026-11-30",
                    limit_nano=1000 * CNY,
                    currency="CNY",
                    thresholds=(80,),
                    before_nano=0,
                    after_nano=after,
                )
            ],
            utcnow(),
        )


def deliver_until_done(engine: Engine, settings: AlertSettings, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            deliver_due(engine, client, "w1", settings)
            with engine.connect() as conn:
                if (
                    conn.execute(
                        select(ALERT_EVENTS.c.id).where(ALERT_EVENTS.c.done_at.is_(None))
                    ).first()
                    is None
                ):
                    return
            time.sleep(0.01)
    raise AssertionError("events still pending")


MESSAGE = (
    "tollgate budget alert: project acme reached 80% of its daily budget (2026-11-30): "
    "CNY 800.00 spent of CNY 1000.00"
)


def test_each_format_gets_its_exact_body(db_url: str) -> None:
    engine, project = setup(db_url)
    cross(engine, project)
    with receiver() as rx:
        hooks = tuple(
            WebhookConfig(f"{rx.base}/{fmt}?token=s3cret", fmt)
            for fmt in ("generic", "slack", "dingtalk", "feishu", "wecom")
        )
        deliver_until_done(engine, replace(FAST, webhooks=hooks))
        [generic] = [r.body for r in rx.to("/generic")]
        assert [r.body for r in rx.to("/slack")] == [{"text": MESSAGE}]
        assert [r.body for r in rx.to("/dingtalk")] == [
            {"msgtype": "text", "text": {"content": MESSAGE}}
        ]
        assert [r.body for r in rx.to("/feishu")] == [
            {"msg_type": "text", "content": {"text": MESSAGE}}
        ]
        assert [r.body for r in rx.to("/wecom")] == [
            {"msgtype": "text", "text": {"content": MESSAGE}}
        ]
    created = generic.pop("created_at")
    assert created.endswith("+00:00")
    assert generic == {
        "event": "tollgate.alert",
        "id": generic["id"],
        "kind": "threshold",
        "project_id": project,
        "project": "acme",
        "key_id": None,
        "budget_id": 1,
        "period": "daily",
        "period_key": "2026-11-30",
        "threshold": 80,
        "limit": "1000.00",
        "baseline": None,
        "amount": "800.00",
        "currency": "CNY",
        "message": MESSAGE,
    }
    [alert] = list_alerts(engine, "acme", 10)
    assert alert["state"] == "delivered" and len(alert["attempts"]) == 5
    assert all(t["delivered"] and t["status_code"] == 200 for t in alert["attempts"])
    engine.dispose()


def test_signed_robots_carry_their_signature() -> None:
    from services.budget.alerts.webhooks import signed

    ding = WebhookConfig(
        "https://oapi.dingtalk.com/robot/send?access_token=t", "dingtalk", secret="SEC"
    )
    url, body = signed(ding, ding.url, {"msgtype": "text"}, 1700000000.123)
    # base64(HMAC-SHA256(key=secret, "timestamp\nsecret")), URL-encoded; timestamp in ms
    assert url.startswith(
        "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000123&sign="
    )
    assert body == {"msgtype": "text"}
    feishu = WebhookConfig("https://open.feishu.cn/open-apis/bot/v2/hook/x", "feishu", secret="SEC")
    url, body = signed(feishu, feishu.url, {"msg_type": "text"}, 1700000000.9)
    assert url == feishu.url and body["timestamp"] == "1700000000" and body["msg_type"] == "text"
    import base64
    import hashlib
    import hmac

    key = b"1700000000\nSEC"
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_a_failing_webhook_is_retried_with_backoff_and_every_attempt_logged(db_url: str) -> None:
    engine, project = setup(db_url)
    cross(engine, project)
    with receiver() as rx:
        rx.script["/hook"] = [(500, {}), (503, {})]
        deliver_until_done(engine, replace(FAST, webhooks=(WebhookConfig(f"{rx.base}/hook"),)))
        times = [r.at for r in rx.to("/hook")]
    assert len(times) == 3
    # Backoff 0.05 s after the first failure, 0.1 s after the second.
    assert times[1] - times[0] >= 0.045 and times[2] - times[1] >= 0.095
    [alert] = list_alerts(engine, None, 10)
    assert [(t["attempt"], t["status_code"], t["delivered"]) for t in alert["attempts"]] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert alert["state"] == "delivered"
    engine.dispose()


def test_a_robot_refusal_inside_http_200_is_a_failure_and_attempts_are_bounded(
    db_url: str,
) -> None:
    engine, project = setup(db_url)
    cross(engine, project)
    with receiver() as rx:
        rx.script["/ding"] = [(200, {"errcode": 310000, "errmsg": "keywords not in content"})] * 9
        settings = replace(
            FAST, max_attempts=3, webhooks=(WebhookConfig(f"{rx.base}/ding", "dingtalk"),)
        )
        deliver_until_done(engine, settings)
        assert len(rx.to("/ding")) == 3
    [alert] = list_alerts(engine, None, 10)
    assert alert["state"] == "failed" and len(alert["attempts"]) == 3
    assert alert["attempts"][0]["error"] == "dingtalk error 310000: keywords not in content"
    engine.dispose()


def test_a_webhook_url_secret_never_reaches_logs_or_the_delivery_log(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine, project = setup(db_url)
    cross(engine, project)
    with receiver() as rx:
        port = rx.base.rsplit(":", 1)[1]
    # The receiver is closed now: the connection is refused.
    hook = WebhookConfig(f"http://127.0.0.1:{port}/robot/send?access_token=TOPSECRET42", "wecom")
    caplog.set_level(logging.INFO)
    deliver_until_done(engine, replace(FAST, max_attempts=2, webhooks=(hook,)))
    with engine.connect() as conn:
        rows = conn.execute(select(ALERT_DELIVERIES)).all()
    assert len(rows) == 2 and all(r.error and r.delivered_at is None for r in rows)
    stored = " ".join(f"{r.target} {r.error}" for r in rows)
    assert "TOPSECRET42" not in stored and "TOPSECRET42" not in caplog.text
    assert "access_token" not in stored and hook.fingerprint in stored
    assert "TOPSECRET42" not in repr(hook)
    engine.dispose()


def test_a_project_scoped_webhook_gets_only_its_project(db_url: str) -> None:
    engine, project = setup(db_url)
    other = admin.create_project(engine, "other", currency="CNY").id
    cross(engine, project, budget_id=1)
    cross(engine, other, budget_id=2)
    with receiver() as rx:
        hooks = (WebhookConfig(f"{rx.base}/all"), WebhookConfig(f"{rx.base}/acme", project="acme"))
        deliver_until_done(engine, replace(FAST, webhooks=hooks))
        assert len(rx.to("/all")) == 2
        assert [r.body["project"] for r in rx.to("/acme")] == ["acme"]
    engine.dispose()


def test_two_workers_deliver_each_event_exactly_once(db_url: str) -> None:
    engine, project = setup(db_url)
    for budget_id in range(1, 31):
        cross(engine, project, budget_id=budget_id)
    with receiver() as rx:
        settings = replace(FAST, webhooks=(WebhookConfig(f"{rx.base}/hook"),))
        start = threading.Barrier(2)

        def work(name: str) -> None:
            with httpx.Client(timeout=2) as client:
                start.wait()
                for _ in range(3):
                    deliver_due(make_engine_once(), client, name, settings)

        shared: dict[str, Engine] = {}

        def make_engine_once() -> Engine:  # one engine per "replica", as two processes have
            name = threading.current_thread().name
            if name not in shared:
                shared[name] = make_engine(db_url)
            return shared[name]

        workers = [threading.Thread(target=work, args=(f"w{i}",), name=f"w{i}") for i in (1, 2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        ids = [r.body["budget_id"] for r in rx.to("/hook")]
    assert sorted(ids) == list(range(1, 31))
    with engine.connect() as conn:
        workers_seen = {r.claimed_by for r in conn.execute(select(ALERT_EVENTS))}
        attempts = conn.execute(select(ALERT_DELIVERIES)).all()
    assert workers_seen == {None}  # every lease released
    assert len(attempts) == 30 and all(a.delivered_at for a in attempts)
    for e in shared.values():
        e.dispose()
    engine.dispose()


def test_the_budget_service_threads_deliver_and_stop(sqlite_url: str) -> None:
    from services.budget.alerts import start_alert_threads

    engine, project = setup(sqlite_url)
    with receiver() as rx:
        settings = replace(
            FAST,
            delivery_interval_seconds=0.02,
            spike_check_seconds=0.02,
            webhooks=(WebhookConfig(f"{rx.base}/hook", "slack"),),
        )
        stop = threading.Event()
        threads = start_alert_threads(engine, settings, stop)
        cross(engine, project)
        deadline = time.monotonic() + 5
        while not rx.to("/hook") and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join(timeout=5)
        assert [r.body for r in rx.to("/hook")] == [{"text": MESSAGE}]
    assert not any(t.is_alive() for t in threads)
    engine.dispose()
