"""Batches in the `batches` and `batch_lines` tables, as the Batches service reads and
writes them: create (one transaction: the batch and all its lines), get, list,
cancel. Every query names the project: another project's batch is not found."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from services.router.batch.files import unix
from services.router.batch.states import CANCELLABLE, BatchState, LineState
from tollgate.db.batch_models import BATCH_LINES, BATCHES
from tollgate.v1 import batch_pb2

B = BATCHES.c
MAX_LIST = 100
DEFAULT_LIST = 20
# Every column but the large ones a batch has none of: what the service shows.
_TIMES = (
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


def batch_info(row: Any) -> batch_pb2.BatchInfo:
    info = batch_pb2.BatchInfo(
        id=row.id,
        endpoint=row.endpoint,
        input_file_id=row.input_file_id,
        completion_window=row.completion_window,
        status=BatchState(row.status).proto(),
        output_file_id=row.output_file_id or "",
        error_file_id=row.error_file_id or "",
        request_counts=batch_pb2.BatchRequestCounts(
            total=row.total, completed=row.completed, failed=row.failed
        ),
        metadata=json.loads(row.metadata_json or "{}"),
        errors=[batch_pb2.BatchError(**e) for e in json.loads(row.errors_json or "[]")],
        usage=batch_pb2.BatchUsage(
            input_tokens=row.input_tokens,
            cached_tokens=row.cached_tokens,
            output_tokens=row.output_tokens,
            reasoning_tokens=row.reasoning_tokens,
        ),
    )
    for name in _TIMES:
        setattr(info, name, unix(getattr(row, name)))
    return info


def _errors_json(errors: Sequence[batch_pb2.BatchError]) -> str:
    return json.dumps(
        [{"code": e.code, "message": e.message, "param": e.param, "line": e.line} for e in errors]
    )


def create_batch(
    engine: Engine, header: batch_pb2.BatchHeader, lines: Sequence[batch_pb2.BatchLine]
) -> batch_pb2.BatchInfo:
    """Store a new batch and its lines (queued) in one transaction."""
    now = datetime.now(UTC)
    status = BatchState.of_proto(header.status)
    failed = status is BatchState.FAILED
    values = {
        "id": header.batch_id,
        "project_id": header.project_id,
        "key_id": header.key_id,
        "endpoint": header.endpoint,
        "input_file_id": header.input_file_id,
        "completion_window": header.completion_window,
        "status": status.value,
        "metadata_json": json.dumps(dict(header.metadata)),
        "errors_json": _errors_json(header.errors),
        "total": 0 if failed else len(lines),
        "created_at": now,
        "expires_at": now + timedelta(seconds=header.completion_window_seconds),
        "failed_at": now if failed else None,
    }
    with engine.begin() as conn:
        conn.execute(BATCHES.insert().values(**values))
        if lines and not failed:
            conn.execute(
                BATCH_LINES.insert(),
                [
                    {
                        "batch_id": header.batch_id,
                        "line": line.line,
                        "custom_id": line.custom_id,
                        "request_id": line.request_id,
                        "model": line.model,
                        "end_user": line.end_user,
                        "prompt_tokens": line.prompt_tokens_estimate,
                        "body": line.body,
                        "state": LineState.QUEUED.value,
                    }
                    for line in lines
                ],
            )
        row = conn.execute(select(BATCHES).where(B.id == header.batch_id)).one()
    return batch_info(row)


def _mine(project_id: str, batch_id: str) -> Any:
    return and_(B.project_id == project_id, B.id == batch_id)


def find_batch(engine: Engine, project_id: str, batch_id: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(select(BATCHES).where(_mine(project_id, batch_id))).first()


def list_batches(
    engine: Engine, project_id: str, after: str, limit: int
) -> tuple[Sequence[Any], bool]:
    """A page of the project's batches, newest first, and whether more follow."""
    limit = min(max(limit or DEFAULT_LIST, 1), MAX_LIST)
    query = select(BATCHES).where(B.project_id == project_id)
    if after:
        cursor = find_batch(engine, project_id, after)
        if cursor is None:
            return [], False
        at, key = cursor.created_at, cursor.id
        query = query.where(or_(B.created_at < at, and_(B.created_at == at, B.id < key)))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(B.created_at.desc(), B.id.desc()).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit


def cancel_batch(engine: Engine, project_id: str, batch_id: str) -> Any | None:
    """Move a validating or running batch to cancelling (the runner ends it); a batch
    in any other state is left as it is. The batch, or None when not found."""
    with engine.begin() as conn:
        conn.execute(
            update(BATCHES)
            .where(_mine(project_id, batch_id), B.status.in_([s.value for s in CANCELLABLE]))
            .values(status=BatchState.CANCELLING.value, cancelling_at=datetime.now(UTC))
        )
        return conn.execute(select(BATCHES).where(_mine(project_id, batch_id))).first()
