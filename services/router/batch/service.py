"""The Batches service (batch.proto) and the wiring of the Batch API into a router
process: the Files and Batches services over the router's database, and the runner
that sends the lines through the process's own RouterServicer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn

import grpc
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from services.router.batch.files import FilesServicer
from services.router.batch.lines import BatchRecorder
from services.router.batch.runner import BatchRunner
from services.router.batch.store import (
    batch_info,
    cancel_batch,
    create_batch,
    find_batch,
    list_batches,
)
from services.router.cache import ResponseCache
from services.router.opencalls import Recorder
from services.router.providers import Provider
from services.router.routing.wiring import Routing
from services.router.server import RouterServicer
from tollgate.batch_config import BatchSettings
from tollgate.config import Settings
from tollgate.db import make_engine
from tollgate.grpcutil import aio_channel
from tollgate.v1 import batch_pb2, batch_pb2_grpc, budget_pb2_grpc

# The runner's lines, the Files and Batches services: a few connections suffice.
POOL_SIZE = 4


class BatchesServicer(batch_pb2_grpc.BatchesServicer):
    def __init__(self, engine: Engine, on_created: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._on_created = on_created

    async def CreateBatch(
        self, request_iterator: AsyncIterator[batch_pb2.BatchPart], context: Any
    ) -> batch_pb2.BatchInfo:
        header: batch_pb2.BatchHeader | None = None
        lines: list[batch_pb2.BatchLine] = []
        async for part in request_iterator:
            if part.WhichOneof("part") == "header":
                header = part.header
            else:
                lines.append(part.line)
        if header is None or not header.batch_id or not header.project_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a batch needs its header")
        assert header is not None
        try:
            info = await asyncio.to_thread(create_batch, self._engine, header, lines)
        except IntegrityError:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, "the batch id is taken")
        self._on_created()
        return info

    async def GetBatch(self, request: batch_pb2.BatchRef, context: Any) -> batch_pb2.BatchInfo:
        row = await asyncio.to_thread(
            find_batch, self._engine, request.project_id, request.batch_id
        )
        if row is None:
            await _not_found(context, request.batch_id)
        return batch_info(row)

    async def ListBatches(
        self, request: batch_pb2.ListBatchesRequest, context: Any
    ) -> batch_pb2.ListBatchesResponse:
        rows, more = await asyncio.to_thread(
            list_batches, self._engine, request.project_id, request.after, request.limit
        )
        return batch_pb2.ListBatchesResponse(batches=[batch_info(r) for r in rows], has_more=more)

    async def CancelBatch(self, request: batch_pb2.BatchRef, context: Any) -> batch_pb2.BatchInfo:
        row = await asyncio.to_thread(
            cancel_batch, self._engine, request.project_id, request.batch_id
        )
        if row is None:
            await _not_found(context, request.batch_id)
        self._on_created()
        return batch_info(row)


async def _not_found(context: Any, batch_id: str) -> NoReturn:
    await context.abort(grpc.StatusCode.NOT_FOUND, f"No batch found with id '{batch_id}'.")
    raise AssertionError("abort raises")  # pragma: no cover


@dataclass
class BatchApi:
    """The Batch API of one router process: its services, its runner, and the database
    engine and Budget channel they use."""

    runner: BatchRunner
    services: list[tuple[Callable[[grpc.aio.Server], None], str]]
    engine: Engine
    budget_channel: grpc.aio.Channel

    async def stop(self, grace: float) -> None:
        """Stop the runner (its running lines end first, up to `grace`), then close."""
        await self.runner.stop(grace)
        await self.budget_channel.close()
        self.engine.dispose()


def start_batch_api(
    settings: Settings,
    providers: Mapping[str, Provider],
    recorder: Recorder,
    routing: Routing,
    batch: BatchSettings | None = None,
) -> BatchApi:
    """The services to add to the router's server, and the runner, started. The runner
    calls a RouterServicer of its own over the process's providers and routing, whose
    recorder tags each record with its line's batch."""
    batch = batch or BatchSettings.from_env()
    engine = make_engine(settings.database_url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
    channel = aio_channel(settings.addrs["budget"])
    tagged = BatchRecorder(recorder)
    servicer = RouterServicer(
        settings.routes(),
        providers,
        tagged,
        settings.max_call_seconds,
        routing,
        ResponseCache.disabled(),
    )
    runner = BatchRunner(engine, servicer, tagged, budget_pb2_grpc.BudgetStub(channel), batch)
    runner.start()
    files = FilesServicer(engine, batch.file_max_bytes)
    batches = BatchesServicer(engine, runner.wake)
    return BatchApi(
        runner,
        [
            (partial(batch_pb2_grpc.add_FilesServicer_to_server, files), "tollgate.v1.Files"),
            (
                partial(batch_pb2_grpc.add_BatchesServicer_to_server, batches),
                "tollgate.v1.Batches",
            ),
        ],
        engine,
        channel,
    )
