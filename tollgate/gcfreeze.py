"""The garbage collector in a long-running service process.

CPython's full (generation 2) collection walks every container object the process
holds. A service holds hundreds of thousands after start-up (modules, gRPC and
SQLAlchemy's machinery, compiled statements, the tokenizer), so each full collection
stopped a service for 70 to 110 ms, a few times a minute under load: at concurrency 1
that was the bench's p99. Those objects live as long as the process, so a while after
start, and again once traffic has warmed the lazy parts (first calls import codecs,
compile statements, fill caches), `gc.freeze()` moves every object alive to a
permanent generation that collections skip. Garbage made later is collected as
before; what was alive at a freeze and is dropped later is only freed by reference
counting (cycles among such objects stay), which is why freezing stops after the
second time.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger(__name__)

# Seconds after start at which everything alive is frozen (start-up, then warm-up).
FREEZE_AFTER_SECONDS = (5.0, 60.0)


def freeze_later(delays: tuple[float, ...] = FREEZE_AFTER_SECONDS) -> None:
    """Freeze what is alive at each of `delays` seconds from now, in a daemon thread."""
    for delay in delays:
        timer = threading.Timer(delay, freeze)
        timer.daemon = True
        timer.name = "gc-freeze"
        timer.start()


def freeze() -> None:
    """Collect what is garbage now, then freeze every object still alive."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    took = (time.perf_counter() - started) * 1000
    log.debug("froze %d objects in %.0f ms", gc.get_freeze_count(), took)
