"""The batch runner: background work of every router replica, at a bounded number of
lines at once (TOLLGATE_BATCH_CONCURRENCY) so interactive calls keep the upstreams.

Each tick it starts validated batches, ends the unrun lines of cancelled and expired
batches and releases their holds with Budget, finalizes batches whose lines all
ended, and claims queued lines up to its free slots. A claimed line is held under a
lease the runner renews while the line runs (leases.py); a line's call goes through
the router's own path (lines.py) and its outcome becomes its output line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any

import grpc
from sqlalchemy import Engine

from services.router.batch import finalize as ending
from services.router.batch.leases import Claimed, claim_lines, finish_line, renew_leases
from services.router.batch.lines import BatchRecorder, error_body, run_line
from services.router.server import RouterServicer
from tollgate.batch_config import BatchSettings
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2

log = logging.getLogger(__name__)

RELEASE_TIMEOUT_SECONDS = 5.0
# A runner whose database calls fail (e.g. not migrated yet) says so this often.
ERROR_LOG_SECONDS = 60.0
STOPPED = 503


def runner_id() -> str:
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{secrets.token_hex(4)}"


class BatchRunner:
    def __init__(
        self,
        engine: Engine,
        servicer: RouterServicer,
        recorder: BatchRecorder,
        budget: budget_pb2_grpc.BudgetStub,
        settings: BatchSettings,
        owner: str = "",
    ) -> None:
        self._engine = engine
        self._servicer = servicer
        self._recorder = recorder
        self._budget = budget
        self._settings = settings
        self.owner = owner or runner_id()
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_error_log = float("-inf")

    @property
    def running(self) -> int:
        return len(self._running)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop()), loop.create_task(self._renew_loop())]

    def wake(self) -> None:
        """Look for work now (a batch was created, a line ended)."""
        self._wake.set()

    async def stop(self, grace: float) -> None:
        """Stop claiming; let running lines end (up to `grace`), then stop them: a line
        cut short ends failed (503), billed for what its upstream used."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running = list(self._running.values())
        if running:
            _, unfinished = await asyncio.wait(running, timeout=grace)
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                self._log_error("batch runner tick failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)

    async def _renew_loop(self) -> None:
        every = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(
                    renew_leases,
                    self._engine,
                    self.owner,
                    list(self._running),
                    self._settings.lease_seconds,
                )
            except Exception:
                self._log_error("renewing batch line leases failed")

    def _log_error(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_SECONDS:
            self._last_error_log = now
            log.exception(message)

    async def tick(self) -> None:
        """One round of the runner's work (tests call it directly)."""
        engine, lease = self._engine, self._settings.lease_seconds
        await asyncio.to_thread(ending.start_validated, engine)
        await asyncio.to_thread(ending.end_unrun_lines, engine)
        await self._release_unrun()
        for batch_id in await asyncio.to_thread(ending.ready_batches, engine):
            if await asyncio.to_thread(ending.finalize, engine, batch_id, lease):
                log.info("batch %s finalized", batch_id)
        free = self._settings.concurrency - len(self._running)
        claimed = await asyncio.to_thread(claim_lines, engine, self.owner, free, lease)
        for line in claimed:
            self._running[line.key] = asyncio.get_running_loop().create_task(self._run(line))

    async def _release_unrun(self) -> None:
        """Give Budget back the holds of lines that will never run."""
        lines = await asyncio.to_thread(ending.unreleased_lines, self._engine)
        released: list[ending.Unreleased] = []
        for line in lines:
            try:
                await self._budget.Release(
                    budget_pb2.ReleaseRequest(request_id=line.request_id),
                    timeout=RELEASE_TIMEOUT_SECONDS,
                )
            except grpc.aio.AioRpcError as exc:
                log.warning("release of %s failed (%s); retrying", line.request_id, exc.code())
                break
            released.append(line)
        if released:
            await asyncio.to_thread(ending.mark_released, self._engine, released)

    async def _run(self, line: Claimed) -> None:
        self._recorder.tag(line.request_id, line.batch_id)
        outcome: tuple[int, Any]
        try:
            outcome = await run_line(self._servicer, line)
        except asyncio.CancelledError:
            error = common_pb2.Error(
                type="server_error", message="The router stopped while the request ran."
            )
            await self._finish(line, (STOPPED, error_body(error)))
            raise
        except Exception:
            log.exception("batch line %s failed", line.request_id)
            outcome = (500, error_body(common_pb2.Error(type="server_error")))
        finally:
            self._recorder.untag(line.request_id)
        await self._finish(line, outcome)

    async def _finish(self, line: Claimed, outcome: tuple[int, Any]) -> None:
        status, body = outcome
        output = ending.output_line(line.request_id, line.custom_id, status, body)
        try:
            done = await asyncio.to_thread(
                finish_line, self._engine, self.owner, line, status, output
            )
            if not done:
                log.warning("batch line %s was taken over before it ended", line.request_id)
        except Exception:
            # The lease runs out and the line runs again; metering bills its request id once.
            log.exception("recording batch line %s failed", line.request_id)
        finally:
            self._running.pop(line.key, None)
            self._wake.set()
