"""The runner's side of `batch_lines`: claim queued lines under a lease, renew the
leases of lines still running, record a line's outcome.

A claim is an UPDATE guarded by the state it read (queued, or running with a lease
that ran out), so two runners never both claim one line, on SQLite or PostgreSQL,
however many router replicas share the database. A line whose runner died is
claimed again once its lease runs out, and runs again under the same request id:
metering's ingest keeps one ledger row per request id, so it is billed once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, or_, select, tuple_, update

from services.router.batch.states import BatchState, LineState
from tollgate.db.batch_models import BATCH_LINES, BATCHES

L = BATCH_LINES.c
B = BATCHES.c


@dataclass(frozen=True)
class Claimed:
    """A line a runner holds: what to send, on whose behalf."""

    batch_id: str
    line: int
    request_id: str
    custom_id: str
    model: str
    end_user: str
    prompt_tokens: int
    body: bytes
    project_id: str
    key_id: str
    endpoint: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.batch_id, self.line)


def now() -> datetime:
    return datetime.now(UTC)


def free_to_claim(at: datetime) -> ColumnElement[bool]:
    """A line no live runner holds: queued, or running under a lease that ran out."""
    return or_(
        L.state == LineState.QUEUED.value,
        and_(L.state == LineState.RUNNING.value, L.lease_until < at),
    )


def claim_lines(engine: Engine, owner: str, count: int, lease_seconds: float) -> list[Claimed]:
    """Up to `count` lines of running batches (oldest batch first), now `owner`'s."""
    if count <= 0:
        return []
    at = now()
    until = at + timedelta(seconds=lease_seconds)
    query = (
        select(
            L.batch_id,
            L.line,
            L.request_id,
            L.custom_id,
            L.model,
            L.end_user,
            L.prompt_tokens,
            L.body,
            B.project_id,
            B.key_id,
            B.endpoint,
        )
        .join(BATCHES, B.id == L.batch_id)
        .where(B.status == BatchState.IN_PROGRESS.value, B.expires_at > at, free_to_claim(at))
        .order_by(B.created_at, L.batch_id, L.line)
        .limit(count)
    )
    claimed: list[Claimed] = []
    with engine.begin() as conn:
        for row in conn.execute(query).all():
            won = conn.execute(
                update(BATCH_LINES)
                .where(L.batch_id == row.batch_id, L.line == row.line, free_to_claim(at))
                .values(state=LineState.RUNNING.value, lease_owner=owner, lease_until=until)
            ).rowcount
            if won == 1:
                claimed.append(
                    Claimed(
                        row.batch_id,
                        row.line,
                        row.request_id,
                        row.custom_id,
                        row.model,
                        row.end_user,
                        row.prompt_tokens,
                        bytes(row.body),
                        row.project_id,
                        row.key_id,
                        row.endpoint,
                    )
                )
    return claimed


def renew_leases(
    engine: Engine, owner: str, keys: Iterable[tuple[str, int]], lease_seconds: float
) -> None:
    keys = list(keys)
    if not keys:
        return
    with engine.begin() as conn:
        conn.execute(
            update(BATCH_LINES)
            .where(
                tuple_(L.batch_id, L.line).in_(keys),
                L.lease_owner == owner,
                L.state == LineState.RUNNING.value,
            )
            .values(lease_until=now() + timedelta(seconds=lease_seconds))
        )


def finish_line(
    engine: Engine, owner: str, claimed: Claimed, status_code: int, output: bytes
) -> bool:
    """Record the line's outcome and count it in its batch, once: False when the line
    is no longer this runner's (its lease ran out and another runner took it)."""
    succeeded = 200 <= status_code < 300
    state = LineState.SUCCEEDED if succeeded else LineState.FAILED
    with engine.begin() as conn:
        done = conn.execute(
            update(BATCH_LINES)
            .where(
                L.batch_id == claimed.batch_id,
                L.line == claimed.line,
                L.lease_owner == owner,
                L.state == LineState.RUNNING.value,
            )
            .values(
                state=state.value,
                status_code=status_code,
                output=output,
                lease_until=None,
                finished_at=now(),
            )
        ).rowcount
        if done != 1:
            return False
        counter = B.completed if succeeded else B.failed
        conn.execute(update(BATCHES).where(B.id == claimed.batch_id).values({counter: counter + 1}))
    return True


def give_back(engine: Engine, owner: str, keys: Sequence[tuple[str, int]]) -> None:
    """Put lines this runner claimed but never started back in the queue (shutdown)."""
    if not keys:
        return
    with engine.begin() as conn:
        conn.execute(
            update(BATCH_LINES)
            .where(
                tuple_(L.batch_id, L.line).in_(list(keys)),
                L.lease_owner == owner,
                L.state == LineState.RUNNING.value,
            )
            .values(state=LineState.QUEUED.value, lease_owner="", lease_until=None)
        )
