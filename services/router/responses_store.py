"""The ResponseStore gRPC service: stored Responses API responses, in the database's
`stored_responses` table (migration 0009), which only the router writes.

Every read and delete is by (project, response id): a response is found only by the
project that stored it, and only until it expires (`ttl_seconds` after it was put;
TOLLGATE_RESPONSES_TTL_DAYS, 30 days by default). Expired rows are never returned
and are swept every `SWEEP_SECONDS`. Queries run in a worker thread, so the event
loop never waits on the database."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import grpc
from sqlalchemy import Engine, delete, select

from tollgate.db.engine import as_utc
from tollgate.db.responses_models import STORED_RESPONSES
from tollgate.v1 import responses_pb2, responses_pb2_grpc

log = logging.getLogger(__name__)
T = STORED_RESPONSES.c
SWEEP_SECONDS = 600.0
MAX_ID_CHARS = 200


def _ms(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() * 1000)


def _checked_key(project_id: str, response_id: str) -> bool:
    return bool(project_id) and 0 < len(response_id) <= MAX_ID_CHARS and len(project_id) <= 40


class ResponseStoreServicer(responses_pb2_grpc.ResponseStoreServicer):
    def __init__(self, engine: Engine, ttl_seconds: float) -> None:
        self._engine = engine
        self._ttl = timedelta(seconds=ttl_seconds)
        self._swept_at = float("-inf")

    async def PutResponse(
        self, request: responses_pb2.PutResponseRequest, context: grpc.aio.ServicerContext
    ) -> responses_pb2.PutResponseReply:
        stored = request.response
        if not _checked_key(stored.project_id, stored.response_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "project_id and response_id")
        await asyncio.to_thread(self._put, stored)
        return responses_pb2.PutResponseReply()

    async def GetResponse(
        self, request: responses_pb2.GetResponseRequest, context: grpc.aio.ServicerContext
    ) -> responses_pb2.GetResponseReply:
        if not _checked_key(request.project_id, request.response_id):
            return responses_pb2.GetResponseReply(found=False)
        found = await asyncio.to_thread(self._get, request.project_id, request.response_id)
        if found is None:
            return responses_pb2.GetResponseReply(found=False)
        return responses_pb2.GetResponseReply(found=True, response=found)

    async def DeleteResponse(
        self, request: responses_pb2.DeleteResponseRequest, context: grpc.aio.ServicerContext
    ) -> responses_pb2.DeleteResponseReply:
        if not _checked_key(request.project_id, request.response_id):
            return responses_pb2.DeleteResponseReply(deleted=False)
        deleted = await asyncio.to_thread(self._delete, request.project_id, request.response_id)
        return responses_pb2.DeleteResponseReply(deleted=deleted)

    def _put(self, stored: responses_pb2.StoredResponse) -> None:
        now = datetime.now(UTC)
        created = (
            datetime.fromtimestamp(stored.created_at_unix_ms / 1000, UTC)
            if stored.created_at_unix_ms
            else now
        )
        key = (T.project_id == stored.project_id, T.response_id == stored.response_id)
        with self._engine.begin() as conn:
            conn.execute(delete(STORED_RESPONSES).where(*key))
            conn.execute(
                STORED_RESPONSES.insert().values(
                    project_id=stored.project_id,
                    response_id=stored.response_id,
                    model=stored.model[:200],
                    response=stored.response,
                    input_items=stored.input_items,
                    upstream_held=stored.upstream_held,
                    created_at=created,
                    expires_at=now + self._ttl,
                )
            )
        self._sweep(now)

    def _get(self, project_id: str, response_id: str) -> responses_pb2.StoredResponse | None:
        now = datetime.now(UTC)
        with self._engine.connect() as conn:
            row = conn.execute(
                select(STORED_RESPONSES).where(
                    T.project_id == project_id, T.response_id == response_id
                )
            ).first()
        if row is None or as_utc(row.expires_at) <= now:
            return None
        return responses_pb2.StoredResponse(
            project_id=row.project_id,
            response_id=row.response_id,
            model=row.model,
            response=bytes(row.response),
            input_items=bytes(row.input_items),
            upstream_held=row.upstream_held,
            created_at_unix_ms=_ms(row.created_at),
            expires_at_unix_ms=_ms(row.expires_at),
        )

    def _delete(self, project_id: str, response_id: str) -> bool:
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(STORED_RESPONSES).where(
                    T.project_id == project_id,
                    T.response_id == response_id,
                    T.expires_at > now,
                )
            )
        return bool(result.rowcount)

    def _sweep(self, now: datetime) -> None:
        """Drop expired rows, at most every SWEEP_SECONDS (on a put)."""
        if time.monotonic() - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = time.monotonic()
        with self._engine.begin() as conn:
            swept = conn.execute(delete(STORED_RESPONSES).where(T.expires_at <= now)).rowcount
        if swept:
            log.info("swept %d expired stored responses", swept)

    def close(self) -> None:
        self._engine.dispose()

    def sweep_now(self) -> None:
        """Sweep expired rows at once (tests, and a router that starts)."""
        self._swept_at = float("-inf")
        self._sweep(datetime.now(UTC))
