"""The audit log's writing side: every operator change leaves one `audit_log` row in
the same transaction as the change itself, so there is no change without its row and
no row without its change (a change that is refused or rolled back leaves neither).

A row says who (the actor), what (an action such as `budget.set` and its target),
the changed object before and after as JSON, and when. The actor comes with each admin
RPC as the gRPC metadata `tollgate-actor` (`admin_rpc` sets it for the call):
`admin:<fingerprint>` from the HTTP admin API (the first 12 hex of the admin token's
SHA-256), `cli:<OS user>` from the local CLI; an internal caller that names itself
otherwise, or not at all, is `internal`. The internal credential vouches for the
caller, so the actor is what that caller says it is.

Snapshots are the object's row with its secrets left out (a key's hash, its previous
hash) and money as exact decimal strings (`amount_nano` 5e9 shows as `amount: "5"`).
A change that changes nothing (revoking a revoked key) writes no row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from tollgate.db import as_utc, utcnow
from tollgate.db.audit_models import AUDIT_LOG
from tollgate.money import format_amount

ACTOR_KEY = "tollgate-actor"
INTERNAL = "internal"
MAX_ACTOR_CHARS = 120
SECRET_COLUMNS = frozenset({"key_hash", "previous_key_hash"})
# admin:<hex>, cli:<user>, internal[:<name>]: printable ASCII without spaces.
_ACTOR = re.compile(r"(admin|cli|internal):[\x21-\x7e]{1,100}")

_actor: ContextVar[str] = ContextVar("tollgate_audit_actor", default=INTERNAL)


def actor_of(metadata: Any) -> str:
    """The actor a call's metadata names; `internal` when it names none (or nonsense)."""
    for key, value in metadata or ():
        if key == ACTOR_KEY and isinstance(value, str) and _ACTOR.fullmatch(value):
            return value
    return INTERNAL


def current_actor() -> str:
    return _actor.get()


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Changes made in the block are recorded as `actor`'s."""
    token = _actor.set(actor[:MAX_ACTOR_CHARS])
    try:
        yield
    finally:
        _actor.reset(token)


def plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON-ready values: secrets left out, money as decimal strings, times ISO."""
    shown: dict[str, Any] = {}
    for name, value in row.items():
        if name in SECRET_COLUMNS:
            continue
        if name.endswith("_nano") and isinstance(value, int) and not isinstance(value, bool):
            name, value = name.removesuffix("_nano"), format_amount(value)
        elif isinstance(value, datetime):
            value = as_utc(value).isoformat()
        shown[name] = value
    return shown


def snapshot(conn: Connection, table: Table, *where: Any) -> dict[str, Any] | None:
    """The row `where` picks, as `plain` shows it; None when there is none."""
    row = conn.execute(select(table).where(*where)).mappings().first()
    return None if row is None else plain(dict(row))


@dataclass(frozen=True)
class Target:
    """What a change is about: `kind` (project, key, budget...), a readable name, and
    the project it belongs to (None for suite-wide things such as prices)."""

    kind: str
    name: str
    project_id: str | None = None


def record(
    conn: Connection,
    action: str,
    target: Target,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> bool:
    """Write the change's row inside the caller's transaction; False (and no row)
    when before and after are the same."""
    if before == after:
        return False
    conn.execute(
        AUDIT_LOG.insert().values(
            at=utcnow(),
            actor=current_actor(),
            action=action[:40],
            target_kind=target.kind[:20],
            target=target.name[:250],
            project_id=target.project_id,
            before=_json(before),
            after=_json(after),
        )
    )
    return True


@contextmanager
def audited(
    conn: Connection, action: str, target: Target, table: Table, *where: Any
) -> Iterator[None]:
    """Record the change the block makes to the row of `table` that `where` picks."""
    before = snapshot(conn, table, *where)
    yield
    record(conn, action, target, before, snapshot(conn, table, *where))


def _json(value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
