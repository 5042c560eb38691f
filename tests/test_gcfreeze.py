"""Services freeze what is alive after start-up, so full collections skip it."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from tollgate import gcfreeze


class _Node:
    next: object = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freeze_moves_what_is_alive_out_of_the_collections_way(unfrozen: None) -> None:
    alive = [[n] for n in range(10_000)]  # containers the collector would walk
    gc.collect()
    before = len(gc.get_objects(generation=2))
    gcfreeze.freeze()
    assert gc.get_freeze_count() >= 10_000
    assert len(gc.get_objects(generation=2)) < before - 10_000
    # Garbage made after the freeze is still collected.
    cycle = _Node()
    cycle.next = cycle
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None
    assert alive[-1] == [9_999]


def test_freeze_later_freezes_once_at_each_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    done = threading.Semaphore(0)
    calls: list[str] = []

    def freeze() -> None:
        calls.append(threading.current_thread().name)
        done.release()

    monkeypatch.setattr(gcfreeze, "freeze", freeze)
    gcfreeze.freeze_later((0.01, 0.02))
    assert done.acquire(timeout=30) and done.acquire(timeout=30)
    assert calls == ["gc-freeze", "gc-freeze"]
