"""Project keys: create (the secret shown once, only its hash stored), list, revoke,
rotate, and resume a key a spike alert paused. The gateway's key cache drops a changed
key within a second.

A key may expire (`expires_at`; none: never): from then on it is refused with 401
"expired". A rotation gives the same key id (so its budgets, limits, policy and
history stay) a new secret; the old secret keeps working until the grace ends, then
it is refused. Rotating again before that ends the earlier secret's grace at once:
only the secret before the last rotation can be in grace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Row, select, update

from services.budget.admin.audit_log import Target, audited
from services.budget.admin.errors import AdminError, NotFound
from services.budget.admin.projects import get_project
from tollgate.db import as_utc, utcnow
from tollgate.db.models import API_KEYS as KEYS
from tollgate.keys import display_prefix, hash_secret, new_id, new_secret

MAX_LIFETIME = timedelta(days=3660)  # ten years and change
MAX_GRACE = timedelta(days=90)


class KeyStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # by a spike alert, until an operator resumes it
    REVOKED = "revoked"  # wins over expired and paused
    EXPIRED = "expired"  # past expires_at; wins over paused


@dataclass(frozen=True)
class KeyInfo:
    id: str
    project_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    paused_at: datetime | None = None
    status: KeyStatus = KeyStatus.ACTIVE
    expires_at: datetime | None = None
    rotated_at: datetime | None = None
    previous_expires_at: datetime | None = None  # the old secret's grace end


@dataclass(frozen=True)
class NewKey:
    info: KeyInfo
    secret: str  # shown once, never stored


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def status_of(
    revoked: datetime | None, expires: datetime | None, paused: datetime | None, now: datetime
) -> KeyStatus:
    if revoked is not None:
        return KeyStatus.REVOKED
    if expires is not None and expires <= now:
        return KeyStatus.EXPIRED
    return KeyStatus.PAUSED if paused is not None else KeyStatus.ACTIVE


def _key(row: Row[Any], now: datetime | None = None) -> KeyInfo:
    revoked, paused, expires = _utc(row.revoked_at), _utc(row.paused_at), _utc(row.expires_at)
    grace = _utc(row.previous_expires_at)
    now = now or utcnow()
    return KeyInfo(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        prefix=row.prefix,
        created_at=as_utc(row.created_at),
        revoked_at=revoked,
        paused_at=paused,
        status=status_of(revoked, expires, paused, now),
        expires_at=expires,
        rotated_at=_utc(row.rotated_at),
        previous_expires_at=grace if grace is not None and grace > now else None,
    )


def parse_time(text: str, param: str) -> datetime:
    """RFC 3339 (`2027-01-01T00:00Z`, `2027-01-01T08:00+08:00`) or a date (UTC
    midnight); a time without an offset is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 with an offset
        raise AdminError(
            f"'{param}' must be an RFC 3339 time such as 2027-01-01T00:00Z, not {text[:80]!r}",
            param,
        ) from None


def expiry(
    now: datetime, expires_at: str | None, expires_in_seconds: int | None
) -> datetime | None:
    """When a key given these stops working (None: never): in the future, within ten years."""
    if expires_at is not None and expires_in_seconds is not None:
        raise AdminError("give expires_at or expires_in_seconds, not both", "expires_at")
    if expires_in_seconds is not None:
        if not 1 <= expires_in_seconds <= MAX_LIFETIME.total_seconds():
            raise AdminError(
                "'expires_in_seconds' must be from 1 second to ten years", "expires_in_seconds"
            )
        return now + timedelta(seconds=expires_in_seconds)
    if expires_at is None:
        return None
    when = parse_time(expires_at, "expires_at")
    if when <= now:
        raise AdminError(f"'expires_at' {expires_at!r} is not in the future", "expires_at")
    if when - now > MAX_LIFETIME:
        raise AdminError("'expires_at' must be within ten years", "expires_at")
    return when


def _target(key_id: str, project_id: str) -> Target:
    return Target("key", key_id, project_id)


def create_key(
    engine: Engine,
    project: str,
    name: str = "",
    *,
    expires_at: str | None = None,
    expires_in_seconds: int | None = None,
) -> NewKey:
    owner = get_project(engine, project)
    now = utcnow()
    expires = expiry(now, expires_at, expires_in_seconds)
    secret, key_id = new_secret(), new_id("key")
    values = {
        "id": key_id,
        "project_id": owner.id,
        "name": name,
        "prefix": display_prefix(secret),
        "key_hash": hash_secret(secret),
        "created_at": now,
        "revoked_at": None,
        "expires_at": expires,
    }
    where = KEYS.c.id == key_id
    with engine.begin() as conn:
        with audited(conn, "key.create", _target(key_id, owner.id), KEYS, where):
            conn.execute(KEYS.insert().values(**values))
        row = conn.execute(select(KEYS).where(where)).one()
    return NewKey(_key(row), secret)


def rotate_key(
    engine: Engine,
    key_id: str,
    grace_seconds: int = 0,
    *,
    expires_at: str | None = None,
    expires_in_seconds: int | None = None,
) -> NewKey:
    """A new secret for the key; the old one works `grace_seconds` longer (0: not at all)."""
    if not 0 <= grace_seconds <= MAX_GRACE.total_seconds():
        raise AdminError("'grace_seconds' must be from 0 to 90 days' worth", "grace_seconds")
    now = utcnow()
    expires = expiry(now, expires_at, expires_in_seconds)
    secret = new_secret()
    where = KEYS.c.id == key_id
    with engine.begin() as conn:
        row = conn.execute(select(KEYS).where(where)).first()
        if row is None:
            raise NotFound(f"no key with id {key_id!r}")
        if row.revoked_at is not None:
            raise AdminError(f"key {key_id!r} is revoked: create a new key instead", "key_id")
        values: dict[str, Any] = {
            "key_hash": hash_secret(secret),
            "prefix": display_prefix(secret),
            "previous_key_hash": row.key_hash if grace_seconds else None,
            "previous_expires_at": now + timedelta(seconds=grace_seconds)
            if grace_seconds
            else None,
            "rotated_at": now,
        }
        if expires is not None:
            values["expires_at"] = expires
        with audited(conn, "key.rotate", _target(key_id, row.project_id), KEYS, where):
            conn.execute(update(KEYS).where(where).values(**values))
        row = conn.execute(select(KEYS).where(where)).one()
    return NewKey(_key(row, now), secret)


def list_keys(engine: Engine, project: str) -> list[KeyInfo]:
    owner = get_project(engine, project)
    with engine.connect() as conn:
        rows = conn.execute(
            select(KEYS).where(KEYS.c.project_id == owner.id).order_by(KEYS.c.created_at)
        ).all()
        conn.rollback()
    now = utcnow()
    return [_key(row, now) for row in rows]


def revoke_key(engine: Engine, key_id: str) -> KeyInfo:
    where = KEYS.c.id == key_id
    with engine.begin() as conn:
        row = conn.execute(select(KEYS).where(where)).first()
        if row is None:
            raise NotFound(f"no key with id {key_id!r}")
        if row.revoked_at is None:
            with audited(conn, "key.revoke", _target(key_id, row.project_id), KEYS, where):
                conn.execute(update(KEYS).where(where).values(revoked_at=utcnow()))
        row = conn.execute(select(KEYS).where(where)).one()
    return _key(row)


def get_key(engine: Engine, key_id: str) -> KeyInfo:
    with engine.connect() as conn:
        row = conn.execute(select(KEYS).where(KEYS.c.id == key_id)).first()
        conn.rollback()
    if row is None:
        raise NotFound(f"no key with id {key_id!r}")
    return _key(row)


def resume_key(engine: Engine, key_id: str) -> tuple[KeyInfo, bool]:
    """Clear a spike alert's pause of a key: (the key now, whether it was paused)."""
    where = KEYS.c.id == key_id
    with engine.begin() as conn:
        row = conn.execute(select(KEYS).where(where)).first()
        if row is None:
            raise NotFound(f"no key with id {key_id!r}")
        was_paused = row.paused_at is not None
        with audited(conn, "key.resume", _target(key_id, row.project_id), KEYS, where):
            conn.execute(update(KEYS).where(where).values(paused_at=None, resumed_at=utcnow()))
    return get_key(engine, key_id), was_paused
