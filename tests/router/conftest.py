"""Fixtures for the router tests; the parts themselves live in harness.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tollgate_mocks.openai_upstream import MockUpstream

from .harness import FakeMetering


@pytest.fixture
def metering() -> Iterator[FakeMetering]:
    fake = FakeMetering().start()
    yield fake
    fake.stop()


@pytest.fixture
def upstreams() -> Iterator[Callable[..., MockUpstream]]:
    """Start mock upstreams with the given options; all are stopped afterwards."""
    started: list[MockUpstream] = []

    def start(**options: Any) -> MockUpstream:
        upstream = MockUpstream(**options).start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.stop()
