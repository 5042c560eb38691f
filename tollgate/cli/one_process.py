"""Several services in one process: `tollgate serve all` hosts the four
(`tollgate up --one-process`); `tollgate serve front` hosts gateway and router and
`tollgate serve back` budget and metering, the two processes `tollgate up` runs by
default (why: UpMode in tollgate/settings/model.py).

Each service still serves its gRPC contract on its own address, so the gateway reaches
the others through the same protobuf messages as in split mode, and replicas or other
clients elsewhere keep working. What the services of a host share is one Python
runtime: one copy of the imported code, of the tokenizer's vocabulary and of the gRPC
core, which is what lets the suite fit in a small machine's memory. Router and gateway
run on the host's event loop; Budget and Metering, whose gRPC servers are the blocking
kind, each serve from a thread of their own.

As `tollgate serve <name>` does, this host starts a service by its module's name and
uses nothing of it but the entry point: `main(settings, stop)` (a threading.Event) for
the blocking services, `serve(settings, stop)` (an asyncio.Event) for the asyncio ones.
Each service narrows the settings it is handed to its own secrets (for_service).

The gateway calls the router on their shared event loop in process (tollgate/inprocess.py:
the same handlers, messages serialized both ways, no sockets nor gRPC machinery between
them), and Metering calls Budget in process in the caller's thread
(tollgate/inprocess_blocking.py), while each gRPC server still serves its address to
every other caller; TOLLGATE_IN_PROCESS_CALLS=0 sends those calls over loopback gRPC too.

SIGTERM or SIGINT stops them in the order split mode does: the gateway first (no new
calls; the calls in flight finish), then the router (it delivers its usage spool to
Metering), then Metering, then Budget (`tollgate up` stops the front host before the
back one). A kill -9 loses no usage: the router's spool is on disk, and the next start
delivers it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from tollgate import inprocess
from tollgate.config import Settings
from tollgate.grpcutil import install_async_stop

log = logging.getLogger(__name__)

THREADED = ("budget", "metering")  # blocking gRPC servers, each from its own thread
ON_THE_LOOP = ("router", "gateway")  # asyncio services, on this process's event loop
WATCH_SECONDS = 0.5

# The services each host serves. Two hosts split the suite along its two kinds: the
# asyncio services on the call path, and the blocking ledger services; on two cores
# each gets one, with no lock shared between the two kinds.
GROUPS: dict[str, tuple[str, ...]] = {
    "all": THREADED + ON_THE_LOOP,
    "front": ON_THE_LOOP,
    "back": THREADED,
}


def _entry(name: str) -> Any:
    return importlib.import_module(f"services.{name}.main")


@dataclass
class Hosted:
    """One running service and how to stop it."""

    name: str
    thread: threading.Thread | None = None
    thread_stop: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[None] | None = None
    task_stop: asyncio.Event = field(default_factory=asyncio.Event)

    def ended(self) -> bool:
        if self.thread is not None:
            return not self.thread.is_alive()
        return self.task is not None and self.task.done()

    async def stop(self) -> bool:
        """Stop it and wait until it has; False when it had failed or fails now."""
        if self.thread is not None:
            self.thread_stop.set()
            await asyncio.to_thread(self.thread.join)
            return True
        assert self.task is not None
        self.task_stop.set()
        try:
            await self.task
        except Exception:
            log.exception("%s failed", self.name)
            return False
        return True


def _start_thread(settings: Settings, name: str) -> Hosted:
    hosted = Hosted(name)
    hosted.thread = threading.Thread(
        target=_entry(name).main, args=(settings, hosted.thread_stop), name=name, daemon=True
    )
    hosted.thread.start()
    return hosted


def _start_task(settings: Settings, name: str) -> Hosted:
    hosted = Hosted(name)
    hosted.task = asyncio.create_task(_entry(name).serve(settings, hosted.task_stop), name=name)
    return hosted


async def host(settings: Settings, group: str = "all") -> int:
    """Run the group's services until SIGTERM/SIGINT (0), or until one of them ends
    on its own, a failure: then the others are stopped too (1)."""
    stop = asyncio.Event()
    install_async_stop(stop)
    if inprocess.enabled():
        # Calls between the services hosted here skip the network: on the event loop
        # (inprocess.py) or between the blocking ones (inprocess_blocking.py).
        for name in GROUPS[group]:
            inprocess.expect(settings.addrs[name], name)
    running = [_start_thread(settings, name) for name in THREADED if name in GROUPS[group]]
    running += [_start_task(settings, name) for name in ON_THE_LOOP if name in GROUPS[group]]
    failed = ""
    while not stop.is_set():
        failed = next((hosted.name for hosted in running if hosted.ended()), "")
        if failed:
            log.error("%s stopped on its own; stopping the others", failed)
            break
        try:
            await asyncio.wait_for(stop.wait(), WATCH_SECONDS)
        except TimeoutError:
            pass
    clean = True
    for hosted in reversed(running):  # the gateway first, Budget last
        clean = await hosted.stop() and clean
    return 1 if failed or not clean else 0


def run(settings: Settings, group: str = "all") -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(host(settings, group))
    return uvloop.run(host(settings, group))
