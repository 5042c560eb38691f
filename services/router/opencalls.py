"""Calls in flight, made durable: an open call survives a crash of its router.

Before a call's upstream request, the router writes `<spool>/<id>.open` holding the
usage record to bill should the router die now: who, which model, the prompt
estimate, no output yet, status interrupted, usage estimated. While the call lives
its output is checkpointed into that file every CHECKPOINT_CHUNKS chunks, and at
each heartbeat (every HEARTBEAT_SECONDS) when there is new output; otherwise the
heartbeat only touches the file, so a slow upstream is never taken for a dead
router. When the call ends, its final record replaces the open file (recorder.py).

Whichever router sweeps the (possibly shared) spool and finds an open file whose
heartbeat is older than the stale age, and that is not its own, settles it: the
file becomes a `.rec` and is delivered like any record. Metering is idempotent by
request id, so an orphan record and a late final record never both count.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from services.router.spool import OPEN, spool_name, write_atomic
from tollgate.v1 import metering_pb2

log = logging.getLogger(__name__)

CHECKPOINT_CHUNKS = 64
HEARTBEAT_SECONDS = 1.0
# An open file untouched this long belongs to a dead router. Well above the heartbeat,
# so that a busy event loop is not taken for a dead one.
DEFAULT_STALE_SECONDS = 15.0
STALE_ENV = "TOLLGATE_OPEN_CALL_STALE_SECONDS"

Progress = Callable[[], metering_pb2.UsageRecord]


def stale_seconds(env: dict[str, str] | os._Environ[str] | None = None) -> float:
    """TOLLGATE_OPEN_CALL_STALE_SECONDS, or the default; at least 3 heartbeats."""
    value = (os.environ if env is None else env).get(STALE_ENV, "").strip()
    try:
        seconds = float(value) if value else DEFAULT_STALE_SECONDS
    except ValueError:
        log.warning("%s=%r is not a number; using %g", STALE_ENV, value, DEFAULT_STALE_SECONDS)
        seconds = DEFAULT_STALE_SECONDS
    return max(seconds, 3 * HEARTBEAT_SECONDS)


class OpenCall:
    """One call in flight. `advance()` after each chunk of output: cheap, it only
    counts, and checkpoints every CHECKPOINT_CHUNKS."""

    __slots__ = ("name", "progress", "chunks", "written_at", "_calls")

    def __init__(self, name: str, progress: Progress, calls: OpenCalls | None) -> None:
        self.name = name
        self.progress = progress
        self.chunks = 0  # since the last checkpoint
        self.written_at = 0.0  # monotonic
        self._calls = calls

    def advance(self) -> None:
        self.chunks += 1
        if self.chunks >= CHECKPOINT_CHUNKS and self._calls is not None:
            self._calls.checkpoint(self)

    def checkpoint(self) -> None:
        """Write the call's file now (its record changed: another deployment serves)."""
        if self._calls is not None:
            self._calls.checkpoint(self)

    def end(self, *, keep_file: bool = False) -> None:
        """Stop tracking the call (the recorder does it when the final record is
        spooled; then this does nothing). With `keep_file` the open file stays for a
        sweep to settle once its heartbeat is stale."""
        if self._calls is not None:
            self._calls.close_name(self.name, keep_file=keep_file)


def untracked(request_id: str) -> OpenCall:
    """An open call with no file (for recorders that keep nothing on disk)."""
    return OpenCall(spool_name(request_id, OPEN), lambda: metering_pb2.UsageRecord(), None)


class Recorder(Protocol):
    """Where the router's calls go: opened before the upstream request, put when done
    (services/router/recorder.py; tests use one that keeps records in a list)."""

    def open(self, request_id: str, progress: Progress) -> OpenCall: ...

    def put(self, record: metering_pb2.UsageRecord) -> None: ...


class OpenCalls:
    """The open calls of this process, and their files in the spool."""

    def __init__(self, spool: Path, *, fsync: bool = False) -> None:
        self._spool = os.fspath(spool)
        self._fsync = fsync
        self._calls: dict[str, OpenCall] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._calls

    def __len__(self) -> int:
        return len(self._calls)

    def open(self, request_id: str, progress: Progress) -> OpenCall:
        """Write the call's open file (before its upstream request) and track it."""
        call = OpenCall(spool_name(request_id, OPEN), progress, self)
        self._calls[call.name] = call
        self.checkpoint(call)
        return call

    def checkpoint(self, call: OpenCall) -> None:
        call.chunks = 0
        call.written_at = time.monotonic()
        try:
            write_atomic(
                self._spool, call.name, call.progress().SerializeToString(), fsync=self._fsync
            )
        except Exception:
            # The call goes on: a lost checkpoint only makes a crash bill less.
            log.exception("cannot checkpoint open call %s", call.name)

    def close(self, request_id: str, *, keep_file: bool = False) -> None:
        """The call ended: stop tracking it, and remove its open file unless told to
        keep it (its final record could not be spooled: the open file is the fallback)."""
        self.close_name(spool_name(request_id, OPEN), keep_file=keep_file)

    def close_name(self, name: str, *, keep_file: bool = False) -> None:
        if self._calls.pop(name, None) is None or keep_file:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self._spool, name))

    def heartbeat(self) -> None:
        """Checkpoint calls with new output; touch the files of the others."""
        now = time.monotonic()
        for call in list(self._calls.values()):
            if call.chunks:
                self.checkpoint(call)
            elif now - call.written_at >= HEARTBEAT_SECONDS / 2:
                call.written_at = now
                with contextlib.suppress(FileNotFoundError):
                    os.utime(os.path.join(self._spool, call.name))
