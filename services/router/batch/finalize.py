"""Ending batches: start the validated ones, end the lines of cancelled and expired
ones that never ran (their holds are released with Budget by the runner), and
finalize a batch whose lines all ended: its output and error files, in OpenAI's batch
output format, and its final status, written in one transaction.

Finalizing is claimed with a lease on the batch (`finalize_until`), so one runner
writes a batch's files; a runner that dies while finalizing leaves the batch to
another once the lease runs out (nothing was written: the write is one transaction)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, or_, select, update

from services.router.batch.files import new_file_id
from services.router.batch.leases import free_to_claim, now
from services.router.batch.states import NEVER_RAN, BatchState, LineState
from tollgate.db.batch_models import BATCH_LINES, BATCHES, FILES

L = BATCH_LINES.c
B = BATCHES.c
ENDING = (BatchState.IN_PROGRESS.value, BatchState.CANCELLING.value, BatchState.FINALIZING.value)
OUTPUT_PURPOSE = "batch_output"


def output_line(request_id: str, custom_id: str, status_code: int, body: Any) -> bytes:
    """One line of a batch's output or error file (OpenAI's batch output format)."""
    line = {
        "id": "batch_req_" + secrets.token_hex(12),
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": request_id, "body": body},
        "error": None,
    }
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()


def expired_line(custom_id: str) -> bytes:
    line = {
        "id": "batch_req_" + secrets.token_hex(12),
        "custom_id": custom_id,
        "response": None,
        "error": {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        },
    }
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()


def start_validated(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(BATCHES)
            .where(B.status == BatchState.VALIDATING.value)
            .values(status=BatchState.IN_PROGRESS.value, in_progress_at=now())
        )


def end_unrun_lines(engine: Engine) -> None:
    """Lines of cancelling batches, and of running batches past their window, that no
    live runner holds: cancelled or expired (they will never run)."""
    at = now()
    ending = [
        (BatchState.CANCELLING, LineState.CANCELLED, True),
        (BatchState.IN_PROGRESS, LineState.EXPIRED, False),
    ]
    with engine.begin() as conn:
        for batch_state, line_state, any_time in ending:
            batches = select(B.id).where(B.status == batch_state.value)
            if not any_time:
                batches = batches.where(B.expires_at <= at)
            conn.execute(
                update(BATCH_LINES)
                .where(L.batch_id.in_(batches), free_to_claim(at))
                .values(state=line_state.value, lease_until=None, finished_at=at)
            )


@dataclass(frozen=True)
class Unreleased:
    batch_id: str
    line: int
    request_id: str


def unreleased_lines(engine: Engine, limit: int = 500) -> list[Unreleased]:
    """Lines that never ran whose holds Budget still has."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(L.batch_id, L.line, L.request_id)
            .where(L.state.in_([s.value for s in NEVER_RAN]), L.released.is_(False))
            .limit(limit)
        ).all()
    return [Unreleased(r.batch_id, r.line, r.request_id) for r in rows]


def mark_released(engine: Engine, lines: Sequence[Unreleased]) -> None:
    with engine.begin() as conn:
        for line in lines:
            conn.execute(
                update(BATCH_LINES)
                .where(L.batch_id == line.batch_id, L.line == line.line)
                .values(released=True)
            )


def ready_batches(engine: Engine, limit: int = 20) -> list[str]:
    """Batches whose lines have all ended and whose unrun lines are released."""
    open_line = and_(
        L.batch_id == B.id,
        or_(
            L.state.in_([LineState.QUEUED.value, LineState.RUNNING.value]),
            and_(L.state.in_([s.value for s in NEVER_RAN]), L.released.is_(False)),
        ),
    )
    at = now()
    with engine.connect() as conn:
        rows = conn.execute(
            select(B.id)
            .where(
                B.status.in_(ENDING),
                or_(B.finalize_until.is_(None), B.finalize_until < at),
                ~exists().where(open_line),
            )
            .order_by(B.created_at)
            .limit(limit)
        ).all()
    return [r.id for r in rows]


def finalize(engine: Engine, batch_id: str, lease_seconds: float) -> bool:
    """Write the batch's files and its final status; False when another runner holds it."""
    at = now()
    until = at + timedelta(seconds=lease_seconds)
    with engine.begin() as conn:
        won = conn.execute(
            update(BATCHES)
            .where(
                B.id == batch_id,
                B.status.in_(ENDING),
                or_(B.finalize_until.is_(None), B.finalize_until < at),
            )
            .values(finalize_until=until)
        ).rowcount
        if won != 1:
            return False
        batch = conn.execute(select(BATCHES).where(B.id == batch_id)).one()
        lines = conn.execute(
            select(L.custom_id, L.state, L.status_code, L.output)
            .where(L.batch_id == batch_id)
            .order_by(L.line)
        ).all()
    final = _final_state(BatchState(batch.status), lines)
    if final is BatchState.COMPLETED and batch.status == BatchState.IN_PROGRESS.value:
        with engine.begin() as conn:  # the life cycle shows finalizing while files are written
            conn.execute(
                update(BATCHES)
                .where(B.id == batch_id)
                .values(status=BatchState.FINALIZING.value, finalizing_at=now())
            )
    outputs, errors = _files_of(lines)
    with engine.begin() as conn:
        ids = {
            "output_file_id": _store(conn, batch, outputs, "output"),
            "error_file_id": _store(conn, batch, errors, "error"),
        }
        conn.execute(
            update(BATCHES)
            .where(B.id == batch_id, B.finalize_until == until)
            .values(
                status=final.value,
                finalize_until=None,
                **ids,
                **usage_of(outputs + errors),
                **{_time_of(final): now()},
            )
        )
    return True


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(lines: Sequence[bytes]) -> dict[str, int]:
    """The tokens the lines' answers report (chat and embeddings usage), summed."""
    total = dict.fromkeys(("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens"), 0)
    for raw in lines:
        try:
            answer = json.loads(raw).get("response") or {}
            usage = (answer.get("body") or {}).get("usage")
        except (ValueError, AttributeError):
            continue
        if not isinstance(usage, dict):
            continue
        prompt = usage.get("prompt_tokens_details")
        completion = usage.get("completion_tokens_details")
        total["input_tokens"] += _count(usage.get("prompt_tokens"))
        total["output_tokens"] += _count(usage.get("completion_tokens"))
        if isinstance(prompt, dict):
            total["cached_tokens"] += _count(prompt.get("cached_tokens"))
        if isinstance(completion, dict):
            total["reasoning_tokens"] += _count(completion.get("reasoning_tokens"))
    return total


def _final_state(status: BatchState, lines: Sequence[Any]) -> BatchState:
    if status is BatchState.CANCELLING:
        return BatchState.CANCELLED
    if any(line.state == LineState.EXPIRED.value for line in lines):
        return BatchState.EXPIRED
    return BatchState.COMPLETED


def _time_of(state: BatchState) -> str:
    return {
        BatchState.COMPLETED: "completed_at",
        BatchState.EXPIRED: "expired_at",
        BatchState.CANCELLED: "cancelled_at",
    }[state]


def _files_of(lines: Sequence[Any]) -> tuple[list[bytes], list[bytes]]:
    outputs: list[bytes] = []
    errors: list[bytes] = []
    for line in lines:
        if line.state == LineState.SUCCEEDED.value and line.output is not None:
            outputs.append(bytes(line.output))
        elif line.state == LineState.FAILED.value and line.output is not None:
            errors.append(bytes(line.output))
        elif line.state == LineState.EXPIRED.value:
            errors.append(expired_line(line.custom_id))
    return outputs, errors


def _store(conn: Any, batch: Any, lines: list[bytes], kind: str) -> str | None:
    if not lines:
        return None
    content = b"\n".join(lines) + b"\n"
    file_id = new_file_id()
    conn.execute(
        FILES.insert().values(
            id=file_id,
            project_id=batch.project_id,
            filename=f"{batch.id}_{kind}.jsonl",
            purpose=OUTPUT_PURPOSE,
            bytes=len(content),
            content=content,
            created_at=now(),
        )
    )
    return file_id
