"""The budget service's alert threads: one delivers pending events to the webhooks
(and e-mail), one looks for spend spikes, one reminds of keys about to expire. All
survive database and network errors."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import Engine

from services.budget.alerts.delivery import deliver_due
from services.budget.alerts.expiry import check_key_expiry
from services.budget.alerts.spikes import check_spikes
from tollgate.alertconfig import AlertSettings
from tollgate.db import utcnow

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _every(seconds: float, stop: threading.Event, what: str, step: Callable[[], object]) -> None:
    while not stop.wait(seconds):
        try:
            step()
        except Exception:  # a database or network hiccup must not end the loop
            log.exception("%s failed", what)


def deliver_forever(engine: Engine, settings: AlertSettings, stop: threading.Event) -> None:
    me = worker_id()
    with httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False) as client:
        _every(
            settings.delivery_interval_seconds,
            stop,
            "alert delivery",
            lambda: deliver_due(engine, client, me, settings),
        )


def check_spikes_forever(engine: Engine, settings: AlertSettings, stop: threading.Event) -> None:
    _every(
        settings.spike_check_seconds,
        stop,
        "spike check",
        lambda: check_spikes(engine, settings, utcnow()),
    )


def check_expiry_forever(engine: Engine, settings: AlertSettings, stop: threading.Event) -> None:
    _every(
        settings.key_expiry_check_seconds,
        stop,
        "key expiry check",
        lambda: check_key_expiry(engine, settings, utcnow()),
    )


def start_alert_threads(
    engine: Engine, settings: AlertSettings, stop: threading.Event
) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=deliver_forever, args=(engine, settings, stop), daemon=True),
        threading.Thread(target=check_spikes_forever, args=(engine, settings, stop), daemon=True),
        threading.Thread(target=check_expiry_forever, args=(engine, settings, stop), daemon=True),
    ]
    for thread in threads:
        thread.start()
    if not settings.channels:
        log.info("no alert webhooks or e-mail configured: alerts are recorded, not sent")
    return threads
