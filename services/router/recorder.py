"""At-least-once delivery of usage records to Metering, through a spool directory.

`put` writes the record to `<spool>/<request_id>.rec` before anything else, so a
record survives a crash of this process; a background task then sends it with
`Metering.RecordUsage` and deletes the file once Metering has it, retrying for as
long as it takes. A periodic sweep sends files that nobody is sending (left by a
crashed router, or a replica sharing the spool). Metering's ingest is idempotent by
request id, so a record sent twice is counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import time
import uuid
from pathlib import Path

import grpc

from tollgate.grpcutil import aio_channel
from tollgate.v1 import metering_pb2, metering_pb2_grpc

log = logging.getLogger(__name__)

SUFFIX = ".rec"
TMP_SUFFIX = ".tmp"
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def spool_name(request_id: str) -> str:
    """The spool file name of a request id; ids that are not file-name safe are hashed."""
    if SAFE_NAME.fullmatch(request_id) and not request_id.startswith("."):
        return request_id + SUFFIX
    return hashlib.sha256(request_id.encode()).hexdigest() + SUFFIX


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
        fsync: bool = False,
    ) -> None:
        self._spool = spool_dir
        self._addr = metering_addr
        self._rpc_timeout = rpc_timeout
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._sweep_interval = sweep_interval
        self._stale_after = stale_after
        self._fsync = fsync
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._channel: grpc.aio.Channel | None = None
        self._stub: metering_pb2_grpc.MeteringStub | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Records this process is still sending."""
        return len(self._sending)

    async def start(self) -> None:
        self._spool.mkdir(parents=True, exist_ok=True)
        self._channel = aio_channel(self._addr)
        self._stub = metering_pb2_grpc.MeteringStub(self._channel)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    def put(self, record: metering_pb2.UsageRecord) -> None:
        """Spool the record, then send it in the background. Synchronous, so a record
        is on disk even when the caller is being cancelled."""
        name = spool_name(record.request_id)
        try:
            self._write(name, record.SerializeToString())
        except OSError:
            # Still send it: a record in memory beats no record (the spool is for crashes).
            log.exception("cannot spool usage record %s; sending it unspooled", record.request_id)
        self._send_in_background(name, record)

    def _write(self, name: str, data: bytes) -> None:
        # Plain os calls, not pathlib and a buffered file: this runs before the router
        # hands the call's answer on, so every step it saves is latency saved.
        spool = os.fspath(self._spool)
        os.makedirs(spool, exist_ok=True)
        tmp = os.path.join(spool, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                written = 0
                while written < len(data):  # a regular file takes it in one write, nearly always
                    written += os.write(fd, data[written:])
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, os.path.join(spool, name))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _send_in_background(self, name: str, record: metering_pb2.UsageRecord) -> None:
        if name in self._sending or self._stub is None:
            # Already being sent, or not started: the file stays for a sweep to pick up.
            return
        task = asyncio.get_running_loop().create_task(self._deliver(name, record))
        self._sending[name] = task
        task.add_done_callback(lambda _: self._sending.pop(name, None))

    async def _deliver(self, name: str, record: metering_pb2.UsageRecord) -> None:
        assert self._stub is not None
        delay = self._backoff_initial
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._stub.RecordUsage(record, timeout=self._rpc_timeout)
                break
            except grpc.aio.AioRpcError as exc:
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
        with contextlib.suppress(FileNotFoundError):
            (self._spool / name).unlink()

    async def _sweep_forever(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:
                log.exception("spool sweep failed")
            await asyncio.sleep(self._sweep_interval)

    def sweep(self) -> int:
        """Start sending stale spool files that no task of ours is sending; how many."""
        started = 0
        now = time.time()
        try:
            entries = list(os.scandir(self._spool))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if not entry.name.endswith(SUFFIX) or entry.name in self._sending:
                continue
            try:
                if now - entry.stat().st_mtime < self._stale_after:
                    continue
                data = Path(entry.path).read_bytes()
            except FileNotFoundError:
                continue  # another replica delivered it meanwhile
            record = metering_pb2.UsageRecord()
            try:
                record.ParseFromString(data)
            except Exception:
                log.error("spool file %s is not a usage record; set aside as .bad", entry.name)
                with contextlib.suppress(OSError):
                    os.replace(entry.path, entry.path + ".bad")
                continue
            self._send_in_background(entry.name, record)
            started += 1
        if started:
            log.info("sending %d spooled usage records", started)
        return started

    async def close(self, timeout: float = 5.0) -> None:
        """Try to deliver what is pending; what is not delivered stays in the spool."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        pending = list(self._sending.values())
        if pending:
            _, unfinished = await asyncio.wait(pending, timeout=timeout)
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished)
                log.warning(
                    "%d usage records left in the spool for the next start", len(unfinished)
                )
        if self._channel is not None:
            await self._channel.close()
