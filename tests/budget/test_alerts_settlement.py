"""Thresholds fired by real settlements: two budget replicas settling at once on one
database alert each threshold exactly once, at the settlement that reached it."""

from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import select

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.prices import seed_prices
from services.budget.reservations import ReservationBook, Usage
from tollgate.config import load_settings
from tollgate.db import make_engine, utcnow
from tollgate.db.models import ALERT_EVENTS


def test_two_replicas_settling_at_once_alert_each_threshold_once(db_url: str) -> None:
    engine = make_engine(db_url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "acme", currency="CNY").id
    key = admin.create_key(engine, "acme").info.id
    # The seed's example, scaled down: a daily budget alerting at 50, 80 and 100%.
    budgets.set_budget(engine, "acme", period="daily", amount="1.00", hard=False)
    replicas = [
        ReservationBook(make_engine(db_url), usd_to_cny=Decimal("7.2"), ttl_seconds=600)
        for _ in range(2)
    ]
    start = threading.Barrier(16)
    errors: list[BaseException] = []

    def settle(n: int) -> None:
        try:
            start.wait()
            # demo: CNY 21 / 105 per million tokens: 1000 + 1000 tokens cost CNY 0.126
            replicas[n % 2].settle(f"r{n}", project, key, "demo", Usage(1000, 1000), utcnow())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=settle, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        rows = conn.execute(select(ALERT_EVENTS).order_by(ALERT_EVENTS.c.threshold)).all()
    # Whatever the order, spend reaches 50% at the 4th call (0.504), 80% at the 7th
    # (0.882) and 100% at the 8th (1.008); 16 calls pass 100% without firing again.
    assert [(r.kind, r.threshold, r.amount_nano) for r in rows] == [
        ("threshold", 50, 504_000_000),
        ("threshold", 80, 882_000_000),
        ("threshold", 100, 1_008_000_000),
    ]
    for ledger in replicas:
        ledger.engine.dispose()
    engine.dispose()
