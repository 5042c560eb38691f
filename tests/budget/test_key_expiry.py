"""Keys that expire and rotate (issue 11), on SQLite and PostgreSQL with injected
clocks: an expired key is refused with 401 "expired" even from the gateway's key
cache (a cached key never outlives its expiry) and by Budget's Authorize; a rotated
key's old secret works until its grace ends, then 401; reminders go out 7 days and
1 day before an expiry, once each, through the alert channels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from services.budget.admin import operations as admin
from services.budget.admin.alerts import list_alerts
from services.budget.admin.errors import AdminError
from services.budget.admin.keys import KeyStatus, rotate_key
from services.budget.alerts.delivery import deliver_due
from services.budget.alerts.expiry import check_key_expiry
from services.budget.reservations import Decision, ReservationBook
from services.gateway.auth import EXPIRED_MESSAGE, ROTATED_MESSAGE, KeyCache
from services.gateway.errors import ApiError
from tests.budget.alert_receiver import receiver
from tollgate.alertconfig import AlertSettings, WebhookConfig
from tollgate.db import make_engine, utcnow

HOUR = 3600


@dataclass
class Clocks:
    """The cache's monotonic clock and the wall clock, moving together."""

    mono: float
    wall: datetime

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    admin.create_project(engine, "acme")
    yield engine
    engine.dispose()


def cache(engine: Engine, clocks: Clocks) -> KeyCache:
    return KeyCache(
        engine, ttl_seconds=100 * HOUR, watch_seconds=3600, clock=clocks.monotonic, now=clocks.now
    )


async def refused(admission: Awaitable[Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await admission
    return caught.value


def test_a_cached_key_never_outlives_its_expiry(engine: Engine) -> None:
    new = admin.create_key(engine, "acme", expires_in_seconds=HOUR)
    assert new.info.status is KeyStatus.ACTIVE and new.info.expires_at is not None
    clocks = Clocks(1000.0, utcnow())

    async def scenario() -> None:
        keys = cache(engine, clocks)
        assert (await keys.resolve(new.secret)).key_id == new.info.id
        clocks.advance(HOUR - 60)
        assert (await keys.resolve(new.secret)).key_id == new.info.id
        assert keys.lookups == 1  # still from the cache
        clocks.advance(61)
        error = await refused(keys.resolve(new.secret))
        assert (error.status, error.message) == (401, EXPIRED_MESSAGE)
        assert keys.lookups == 2  # the entry ended with the key
        await keys.aclose()

    asyncio.run(scenario())


def test_an_expired_key_is_refused_by_authorize_and_listed_as_expired(engine: Engine) -> None:
    new = admin.create_key(engine, "acme", expires_in_seconds=1)
    project = admin.get_project(engine, "acme").id
    book = ReservationBook(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=60)
    later = utcnow() + timedelta(seconds=5)
    answer = book.authorize("r1", project, new.info.id, "demo", 10, 10, now=later)
    assert answer.decision is Decision.KEY_EXPIRED and "expired" in answer.message
    time.sleep(1.1)
    (listed,) = [k for k in admin.list_keys(engine, "acme") if k.id == new.info.id]
    assert listed.status is KeyStatus.EXPIRED


def test_a_rotated_keys_old_secret_works_until_the_grace_ends(engine: Engine) -> None:
    old = admin.create_key(engine, "acme", "app")
    clocks = Clocks(1000.0, utcnow())
    new = rotate_key(engine, old.info.id, grace_seconds=600)
    assert new.info.id == old.info.id and new.secret != old.secret
    assert new.info.rotated_at is not None and new.info.previous_expires_at is not None

    async def scenario() -> None:
        keys = cache(engine, clocks)
        for secret in (old.secret, new.secret):
            assert (await keys.resolve(secret)).key_id == old.info.id
        clocks.advance(601)
        error = await refused(keys.resolve(old.secret))
        assert (error.status, error.message) == (401, ROTATED_MESSAGE)
        assert (await keys.resolve(new.secret)).key_id == old.info.id
        await keys.aclose()

    asyncio.run(scenario())

    # Without a grace the old secret stops at once; rotating again ends the old grace.
    again = rotate_key(engine, old.info.id)
    assert again.info.previous_expires_at is None

    async def after() -> None:
        keys = cache(engine, Clocks(0.0, utcnow()))
        for secret in (old.secret, new.secret):
            assert (await refused(keys.resolve(secret))).status == 401
        assert (await keys.resolve(again.secret)).key_id == old.info.id
        await keys.aclose()

    asyncio.run(after())


def test_rotation_can_set_a_new_expiry_and_refuses_a_revoked_key(engine: Engine) -> None:
    key = admin.create_key(engine, "acme", expires_in_seconds=HOUR)
    rotated = rotate_key(engine, key.info.id, expires_in_seconds=90 * 86400)
    assert rotated.info.expires_at is not None and key.info.expires_at is not None
    assert rotated.info.expires_at - key.info.expires_at > timedelta(days=89)
    admin.revoke_key(engine, key.info.id)
    with pytest.raises(AdminError) as caught:
        rotate_key(engine, key.info.id)
    assert caught.value.param == "key_id"


@pytest.mark.parametrize(
    ("given", "param"),
    [
        ({"expires_at": "2001-01-01T00:00Z"}, "expires_at"),
        ({"expires_at": "next tuesday"}, "expires_at"),
        ({"expires_at": "2999-01-01T00:00Z"}, "expires_at"),
        ({"expires_in_seconds": 0}, "expires_in_seconds"),
        ({"expires_in_seconds": 2**40}, "expires_in_seconds"),
        ({"expires_at": "2030-01-01", "expires_in_seconds": 5}, "expires_at"),
    ],
)
def test_a_bad_expiry_names_its_field_and_creates_nothing(
    engine: Engine, given: dict[str, Any], param: str
) -> None:
    before = admin.list_keys(engine, "acme")
    with pytest.raises(AdminError) as caught:
        admin.create_key(engine, "acme", **given)
    assert caught.value.param == param
    assert admin.list_keys(engine, "acme") == before


def test_an_expiry_time_is_read_as_rfc_3339_in_utc(engine: Engine) -> None:
    key = admin.create_key(engine, "acme", expires_at="2030-01-01T08:00+08:00").info
    assert key.expires_at is not None and key.expires_at.isoformat() == "2030-01-01T00:00:00+00:00"


def test_reminders_go_out_seven_days_and_one_day_before_once_each(engine: Engine) -> None:
    settings = AlertSettings(backoff_seconds=0.05)
    start = utcnow()
    key = admin.create_key(engine, "acme", "app", expires_in_seconds=10 * 86400).info
    assert check_key_expiry(engine, settings, start) == []
    assert check_key_expiry(engine, settings, start + timedelta(days=3.5)) == [key.id]
    assert check_key_expiry(engine, settings, start + timedelta(days=4)) == []
    assert check_key_expiry(engine, settings, start + timedelta(days=9.2)) == [key.id]
    assert check_key_expiry(engine, settings, start + timedelta(days=9.9)) == []
    # Created to expire in 12 hours: only the nearest reminder, never "7 days".
    soon = admin.create_key(engine, "acme", expires_in_seconds=12 * HOUR).info
    revoked = admin.create_key(engine, "acme", expires_in_seconds=12 * HOUR).info
    admin.revoke_key(engine, revoked.id)
    assert check_key_expiry(engine, settings, start) == [soon.id]
    reminders = [a for a in list_alerts(engine, None, 50) if a["kind"] == "key_expiry"]
    assert sorted((a["key_id"] == soon.id, a["threshold"]) for a in reminders) == [
        (False, 1),
        (False, 7),
        (True, 1),
    ]
    assert all("expires within" in a["message"] for a in reminders)

    # Delivered like any alert (the reminders recorded "days later" above are due then).
    with receiver() as rx, httpx.Client(timeout=2) as client:
        hooks = (WebhookConfig(f"{rx.base}/hook"),)
        deadline = time.monotonic() + 5
        while not rx.to("/hook") and time.monotonic() < deadline:
            deliver_due(engine, client, "w1", AlertSettings(webhooks=hooks))
        bodies = [r.body for r in rx.to("/hook")]
    assert [(b["kind"], b["key_id"], b["threshold"]) for b in bodies] == [
        ("key_expiry", soon.id, 1)
    ]
    assert "expires within 1 day" in bodies[0]["message"]
