"""Which failures move on to another deployment, the backoff between attempts, and
the one deadline of a whole request."""

from __future__ import annotations

import random

import pytest

from services.router.providers.base import UpstreamError
from services.router.providers.http import error_for_status
from services.router.routing.retry import Deadline, RetryPolicy, is_deployment_failure
from tests.gateway.ratelimit_backends import Clock
from tollgate.routing_config import RetrySettings


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (529, True),  # Anthropic's overloaded
        (401, True),  # this deployment's credentials: another may have good ones
        (403, True),
        (400, False),  # the request itself: every deployment would refuse it
        (404, False),
        (413, False),
        (422, False),
    ],
)
def test_deployment_failures_are_retried_and_request_failures_are_not(
    status: int, retried: bool
) -> None:
    assert is_deployment_failure(error_for_status(status, b"{}")) is retried


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(RetrySettings(backoff_seconds=0.1, max_backoff_seconds=1.0))
    for retry, ceiling in [
        (1, 0.1),
        (2, 0.2),
        (3, 0.4),
        (4, 0.8),
        (5, 1.0),
        (60, 1.0),
        (5000, 1.0),
    ]:
        waits = [policy.backoff(retry) for _ in range(300)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), retry
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not fixed


def test_the_deadline_counts_down_on_its_clock() -> None:
    clock = Clock()
    deadline = Deadline(10, clock)
    clock.advance(4)
    assert deadline.remaining() == pytest.approx(6)
    clock.advance(7)
    assert deadline.remaining() == 0 and deadline.expired


def test_next_wait_stops_on_request_failures_attempt_caps_and_the_deadline() -> None:
    clock = Clock()
    policy = RetryPolicy(
        RetrySettings(backoff_seconds=1, max_backoff_seconds=1, max_attempts=3),
        random.Random(4),
    )
    down = UpstreamError(503, "server_error", "upstream_error", "down")
    bad = UpstreamError(400, "invalid_request_error", "", "bad", "messages")
    deadline = Deadline(10, clock)
    assert 0.5 <= (policy.next_wait(down, 1, deadline) or 0) <= 1
    assert policy.next_wait(down, 3, deadline) is None  # max_attempts
    assert policy.next_wait(bad, 1, deadline) is None
    clock.advance(9.5)  # not enough left to wait and then try
    assert policy.next_wait(down, 1, deadline) is None
