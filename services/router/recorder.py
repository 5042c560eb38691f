"""At-least-once delivery of usage records to Metering, through a spool directory
(see spool.py for its files).

`open` writes a call's open file before its upstream request (opencalls.py), so a
call in flight survives a crash of this process. `put` writes the final record to
`<spool>/<request_id>.rec` before anything else and removes the open file; then it
is delivered, and its file deleted once Metering has it, retrying with a capped
backoff for as long as it takes, unless Metering refuses it for good
(INVALID_ARGUMENT, FAILED_PRECONDITION): then the file is set aside as `.dead`, with
one log line. A periodic sweep sends record files that nobody is sending (left by a
crashed router, or a replica sharing the spool) and settles open files whose
heartbeat stopped (their router died) as interrupted calls. Metering's ingest is
idempotent by request id, so a record sent twice is counted once.

Delivery (batched, and one by one where it must be) is delivery.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

import grpc

from services.router.delivery import LINGER_SECONDS, MAX_BATCH, Delivery
from services.router.metrics import call_recorded, watch_spool
from services.router.opencalls import (
    HEARTBEAT_SECONDS,
    OpenCall,
    OpenCalls,
    Progress,
    stale_seconds,
)
from services.router.spool import (
    BAD,
    OPEN,
    RECORD,
    claim_orphan,
    ensure_dir,
    set_aside,
    spool_name,
    write_atomic,
)
from tollgate.grpcutil import aio_channel
from tollgate.v1 import metering_pb2, metering_pb2_grpc

log = logging.getLogger(__name__)

SUFFIX = RECORD
__all__ = ["SUFFIX", "UsageRecorder", "spool_name"]


class UsageRecorder:
    def __init__(
        self,
        spool_dir: Path,
        metering_addr: str,
        *,
        rpc_timeout: float = 10.0,
        backoff_initial: float = 0.2,
        backoff_cap: float = 10.0,
        sweep_interval: float = 5.0,
        stale_after: float = 10.0,
        open_stale_after: float | None = None,
        heartbeat_interval: float = HEARTBEAT_SECONDS,
        fsync: bool = False,
        max_batch: int = MAX_BATCH,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self._spool = spool_dir
        self._addr = metering_addr
        self._rpc_timeout = rpc_timeout
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._sweep_interval = sweep_interval
        self._stale_after = stale_after
        self._open_stale_after = stale_seconds() if open_stale_after is None else open_stale_after
        self._heartbeat_interval = heartbeat_interval
        self._fsync = fsync
        self._max_batch = max_batch
        self._linger = linger
        self._delivery: Delivery | None = None
        self._open = OpenCalls(spool_dir, fsync=fsync)
        self._channel: grpc.aio.Channel | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None

    @property
    def spool_dir(self) -> Path:
        return self._spool

    @property
    def pending(self) -> int:
        """Records this process is still sending."""
        return 0 if self._delivery is None else len(self._delivery)

    @property
    def open_calls(self) -> int:
        """Calls of this process in flight (each with an open file)."""
        return len(self._open)

    async def start(self) -> None:
        ensure_dir(self._spool)
        self._channel = aio_channel(self._addr)
        self._delivery = Delivery(
            self._spool,
            metering_pb2_grpc.MeteringStub(self._channel),
            rpc_timeout=self._rpc_timeout,
            backoff_initial=self._backoff_initial,
            backoff_cap=self._backoff_cap,
            max_batch=self._max_batch,
            linger=self._linger,
        )
        loop = asyncio.get_running_loop()
        self._sweeper = loop.create_task(self._sweep_forever())
        self._heart = loop.create_task(self._heartbeat_forever())
        watch_spool(self)  # /metrics reports this spool

    def open(self, request_id: str, progress: Progress) -> OpenCall:
        """Make the call durable before its upstream request: `progress()` is the
        record to bill if this process dies before `put` (see opencalls.py)."""
        return self._open.open(request_id, progress)

    def put(self, record: metering_pb2.UsageRecord) -> None:
        """Spool the record, then send it in the background. Synchronous, so a record
        is on disk even when the caller is being cancelled. The call's open file goes
        once the final record is on disk."""
        name = spool_name(record.request_id)
        try:
            self._write(name, record.SerializeToString())
            self._open.close(record.request_id)
        except OSError:
            # Still send it: a record in memory beats no record (the spool is for crashes);
            # the open file stays as the fallback, and metering keeps one of the two.
            log.exception("cannot spool usage record %s; sending it unspooled", record.request_id)
            self._open.close(record.request_id, keep_file=True)
        call_recorded(record)
        self._send_in_background(name, record)

    def _write(self, name: str, data: bytes) -> None:
        spool = os.fspath(self._spool)
        os.makedirs(spool, mode=0o700, exist_ok=True)
        write_atomic(spool, name, data, fsync=self._fsync)

    def _send_in_background(self, name: str, record: metering_pb2.UsageRecord) -> None:
        if self._delivery is not None:  # else not started: a sweep will pick the file up
            self._delivery.send(name, record)

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            try:
                self._open.heartbeat()
            except Exception:
                log.exception("open-call heartbeat failed")

    async def _sweep_forever(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:
                log.exception("spool sweep failed")
            await asyncio.sleep(self._sweep_interval)

    def sweep(self) -> int:
        """Settle orphaned open calls, and start sending stale record files that no
        task of ours is sending; how many records it started."""
        started = 0
        now = time.time()
        try:
            entries = list(os.scandir(self._spool))
        except FileNotFoundError:
            return 0
        orphans = 0
        for entry in entries:
            orphan = False
            if entry.name.endswith(OPEN):
                if entry.name in self._open or not self._stale(entry, now, self._open_stale_after):
                    continue
                name = entry.name[: -len(OPEN)] + RECORD
                if not claim_orphan(entry.path, os.path.join(self._spool, name)):
                    continue  # its final record is there, or another replica took it
                orphans += 1
                orphan = True
            elif entry.name.endswith(RECORD) and not self._sending(entry.name):
                if not self._stale(entry, now, self._stale_after):
                    continue
                name = entry.name
            else:
                continue
            record = self._read(os.path.join(self._spool, name))
            if record is not None:
                if orphan:
                    call_recorded(record)  # its router died before counting it
                self._send_in_background(name, record)
                started += 1
        if orphans:
            log.warning(
                "settling %d calls whose router died in flight (status interrupted)", orphans
            )
        if started:
            log.info("sending %d spooled usage records", started)
        return started

    def _sending(self, name: str) -> bool:
        return self._delivery is not None and name in self._delivery

    @staticmethod
    def _stale(entry: os.DirEntry[str], now: float, age: float) -> bool:
        try:
            return now - entry.stat().st_mtime >= age
        except FileNotFoundError:
            return False  # another replica delivered it meanwhile

    @staticmethod
    def _read(path: str) -> metering_pb2.UsageRecord | None:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            return None  # another replica delivered it meanwhile
        record = metering_pb2.UsageRecord()
        try:
            record.ParseFromString(data)
        except Exception:
            log.error("spool file %s is not a usage record; set aside as %s", path, BAD)
            set_aside(path, BAD)
            return None
        return record

    async def close(self, timeout: float = 5.0) -> None:
        """Try to deliver what is pending; what is not delivered stays in the spool."""
        for task in (self._sweeper, self._heart):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        left = 0 if self._delivery is None else await self._delivery.close(timeout)
        if left:
            log.warning("%d usage records left in the spool for the next start", left)
        if self._channel is not None:
            await self._channel.close()
