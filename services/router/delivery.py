"""Sending spooled usage records to Metering, and deleting each record's spool file
once Metering has it (the recorder, recorder.py, spools them and sweeps the spool).

One sender sends whatever records are queued, up to MAX_BATCH, with one
`Metering.RecordUsageBatch`; while it waits for the answer, the next records queue
for the next batch. A record that finds the sender idle waits LINGER_SECONDS for
company: calls that come one at a time (a client at concurrency 1) then share a batch,
so Metering writes and Budget settles a few calls per transaction instead of one, and
that work no longer runs beside every next call's Authorize (linger 0: at once). Each
record's answer decides its file: written (or held already), the file goes; refused
for good, it is set aside as `.dead` with one log line; not written this time (its
settlement failed), it is queued again. A batch that fails because Metering (or
Budget behind it) is busy or away is sent again after a capped backoff. A Metering
without the batch RPC (UNIMPLEMENTED), or one that refuses or fails a batch as a
whole for any other reason (one record of it may be to blame), gets its records one
by one with `RecordUsage`, each retried until Metering has it or refuses it for good
(INVALID_ARGUMENT, FAILED_PRECONDITION); so does every record while tracing is on:
sent from its call's context, its delivery and settlement join the call's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from pathlib import Path

import grpc

from services.router.spool import DEAD, set_aside
from tollgate import telemetry
from tollgate.v1 import metering_pb2, metering_pb2_grpc

log = logging.getLogger(__name__)

# Metering's answers that no retry can change: the record is set aside.
PERMANENT = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION})
# A batch failed for reasons of the moment (Metering or Budget busy or away): the same
# batch goes again after a backoff. Any other failure sends its records one by one.
TRY_AGAIN = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)
# The most records one RecordUsageBatch carries.
MAX_BATCH = 128
# How long the first record of a batch waits for others to share it, unless a full
# batch is queued already: after an idle sender, and as well after each batch sent
# (records that came while it was in flight would otherwise go at once, two or so at
# a time, one batch on the heels of the other). It only delays settlement (a call's
# hold stays this much longer): the record is on disk in the spool before it is
# queued, so a crash meanwhile loses nothing. At 650 calls/s one at a time, batches
# are about thirty records (waiting only after idle they were about two).
LINGER_SECONDS = 0.05
# After Metering answered a batch UNIMPLEMENTED (an older Metering), records go one by
# one; a batch is tried again this much later (Metering may have been upgraded).
BATCH_RETRY_SECONDS = 60.0


class Delivery:
    def __init__(
        self,
        spool: Path,
        stub: metering_pb2_grpc.MeteringStub,
        *,
        rpc_timeout: float,
        backoff_initial: float,
        backoff_cap: float,
        max_batch: int = MAX_BATCH,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self._spool = spool
        self._stub = stub
        self._rpc_timeout = rpc_timeout
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._max_batch = max_batch
        self._linger = linger
        self._pending: dict[str, metering_pb2.UsageRecord] = {}  # file name -> record
        self._queue: deque[str] = deque()  # pending names waiting for the next batch
        self._ready = asyncio.Event()
        self._alone: set[asyncio.Task[None]] = set()  # records sent one by one
        self._batch_after = 0.0  # monotonic; before it, records go one by one
        self._failures = 0  # batches in a row not delivered
        self._sender = asyncio.get_running_loop().create_task(self._send_batches())

    def __len__(self) -> int:
        """Records still being sent."""
        return len(self._pending)

    def __contains__(self, name: str) -> bool:
        return name in self._pending

    def send(self, name: str, record: metering_pb2.UsageRecord) -> None:
        """Deliver the record of spool file `name` (unless it is being sent already)."""
        if name in self._pending:
            return
        self._pending[name] = record
        if telemetry.enabled() or time.monotonic() < self._batch_after:
            self._send_alone(name)
        else:
            self._queue.append(name)
            self._ready.set()

    def _send_alone(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(name))
        self._alone.add(task)
        task.add_done_callback(self._alone.discard)

    async def _send_batches(self) -> None:
        """The sender: send what is queued, a batch at a time, until nothing is."""
        delay = self._backoff_initial
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                if self._linger > 0 and len(self._queue) < self._max_batch:
                    await asyncio.sleep(self._linger)  # company for the first record
                names = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))
                ]
                try:
                    moved = await self._send_batch(names)
                except Exception:  # a bug of ours: the records stay, the sender lives
                    log.exception("sending a batch of %d usage records failed", len(names))
                    self._queue.extendleft(reversed([n for n in names if n in self._pending]))
                    moved = False
                if moved:
                    delay = self._backoff_initial
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_cap)

    async def _send_batch(self, names: list[str]) -> bool:
        """Send one batch; whether any of its records was settled for good (written,
        or set aside). What was not goes back in the queue."""
        records = [self._pending[name] for name in names]
        try:
            reply = await self._stub.RecordUsageBatch(
                metering_pb2.UsageBatch(records=records), timeout=self._rpc_timeout
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code not in TRY_AGAIN:
                # An older Metering, or a batch refused or failed as a whole (one record
                # of it may be to blame): one by one, where each record gets its own
                # answer and none holds up the others.
                if code is grpc.StatusCode.UNIMPLEMENTED:
                    self._batch_after = time.monotonic() + BATCH_RETRY_SECONDS
                    log.info("metering has no RecordUsageBatch; sending records one by one")
                for name in names:
                    self._send_alone(name)
                return True
            self._batch_failed(len(names), code.name)
            self._queue.extendleft(reversed(names))
            return False
        except Exception:
            log.exception("%d usage records not delivered; retrying", len(names))
            self._queue.extendleft(reversed(names))
            return False
        results = reply.results
        if [r.request_id for r in results] != [r.request_id for r in records]:
            log.error("metering answered a batch of %d records out of turn", len(records))
            self._queue.extendleft(reversed(names))
            return False
        self._failures = 0
        again = []
        for name, record, result in zip(names, records, results, strict=True):
            if result.HasField("recorded"):
                self._delivered(name)
            elif result.refused:
                self._dead(name, record, "refused", result.refused)
            else:
                again.append(name)  # not written this time: it goes again, behind the rest
        self._queue.extend(again)
        return len(again) < len(names)

    def _batch_failed(self, count: int, code: str) -> None:
        # A long Metering outage should not flood the log: first and every 10th.
        self._failures += 1
        level = logging.WARNING if self._failures % 10 == 1 else logging.DEBUG
        log.log(
            level,
            "%d usage records not delivered (attempt %d, %s); retrying",
            count,
            self._failures,
            code,
        )

    def _delivered(self, name: str) -> None:
        """Metering has the record: its file goes."""
        self._pending.pop(name, None)
        with contextlib.suppress(FileNotFoundError):
            (self._spool / name).unlink()

    def _dead(self, name: str, record: metering_pb2.UsageRecord, code: str, details: str) -> None:
        """No retry changes Metering's answer: keep the record for an operator."""
        self._pending.pop(name, None)
        set_aside(os.path.join(self._spool, name), DEAD)
        log.error(
            "usage record %s refused by metering (%s: %s); set aside as %s%s",
            record.request_id,
            code,
            details,
            name,
            DEAD,
        )

    async def _deliver(self, name: str) -> None:
        """Send one record with RecordUsage until Metering has it or refuses it."""
        record = self._pending[name]
        delay = self._backoff_initial
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._stub.RecordUsage(record, timeout=self._rpc_timeout)
                self._delivered(name)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() in PERMANENT:
                    self._dead(name, record, exc.code().name, exc.details() or "")
                    return
                # A long Metering outage should not flood the log: first and every 10th.
                level = logging.WARNING if attempt % 10 == 1 else logging.DEBUG
                log.log(
                    level,
                    "usage record %s not delivered (attempt %d, %s); retrying in %.1fs",
                    record.request_id,
                    attempt,
                    exc.code().name,
                    delay,
                )
            except Exception:
                log.exception("usage record %s not delivered; retrying", record.request_id)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_cap)

    async def close(self, timeout: float) -> int:
        """Wait up to `timeout` for what is pending, then stop sending; how many records
        were left (their files stay in the spool for the next start)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        left = len(self._pending)
        tasks = [self._sender, *self._alone]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        return left
