"""Chat calls walk their route through the running router, in all three wire formats:
a failing deployment (status, hang, stream broken before its first chunk) passes the
call to the next deployment, then to the fallbacks in order, and cools down; the
call is billed once, at the model that answered; a 4xx is passed on at once; a
stream that has sent output is never switched; one deadline caps the whole call."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from services.router.providers.demo import model as demo
from services.router.spool import OPEN, spool_name
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

from .failover_world import FailoverWorld, failover_world, model_of
from .harness import FakeMetering, run

OK = metering_pb2.CALL_STATUS_OK
FAILED = metering_pb2.CALL_STATUS_FAILED
PARTIAL = metering_pb2.CALL_STATUS_PARTIAL
FALLBACK = common_pb2.ROUTE_REASON_FALLBACK
ASKED = common_pb2.ROUTE_REASON_ASKED
MESSAGES = [{"role": "user", "content": "hello failover"}]
KINDS = ["openai", "anthropic", "gemini"]
# How a deployment fails before anything reaches the client.
FAULTS: dict[str, dict[str, Any]] = {
    "status-503": {"fail_status": 503},
    "status-429": {"fail_status": 429},
    "hang": {"latency_ms": 5000},  # the provider's 1 s timeout ends it
    "broken-stream": {"break_after_chunks": 0},  # the stream breaks before any event
}


def _body(stream: bool) -> dict[str, Any]:
    return {"model": "chat", "messages": MESSAGES, "stream": stream}


async def _call(world: FailoverWorld, stream: bool, **fields: Any) -> tuple[Any, Any]:
    request = world.router.request(_body(stream), **fields)
    return request, await world.router.call(request)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_failing_deployments_pass_the_call_on_in_order_and_cool_down(
    tmp_path: Path, metering: FakeMetering, kind: str, fault: str
) -> None:
    stream = fault == "broken-stream" or kind == "gemini"
    # The route's two deployments and the first fallback fail; the second fallback answers.
    faults = dict.fromkeys(("first", "second", "third"), FAULTS[fault])
    long_cooldown = {"cooldown": {"seconds": 30}}  # hangs take seconds: still cooling after

    async def scenario() -> None:
        async with failover_world(tmp_path, metering, kind, faults, long_cooldown) as world:
            request, events = await _call(world, stream)
            assert not events.errors, events.errors
            (served,) = events.served
            assert (served.route, served.model, served.provider) == ("last", "m-fourth", "fourth")
            assert (served.deployment, served.attempts) == ("fourth/m-fourth", 4)
            if stream:
                assert events.content == demo.REPLY_PREFIX + MESSAGES[0]["content"]
            else:
                assert events.responses[0]["model"] == "m-fourth"
            # In order: the weighted pick, the route's other deployment, the fallbacks.
            assert world.calls() == {"first": 1, "second": 1, "third": 1, "fourth": 1}
            record = await metering.one(request.request_id)
            assert (record.status, record.model_requested, record.model_served) == (
                OK,
                "chat",
                "m-fourth",
            )
            assert (record.provider, record.deployment, record.attempts) == (
                "fourth",
                "fourth/m-fourth",
                4,
            )
            assert record.route_reason == FALLBACK and record.reference_model == "m-first"
            assert record.usage.prompt_tokens > 0
            # The failed deployments cool down: the next call goes straight to `last`.
            request, events = await _call(world, stream)
            assert not events.errors and events.served[0].attempts == 1
            assert world.calls() == {"first": 1, "second": 1, "third": 1, "fourth": 2}
            await metering.one(request.request_id)
        metering.assert_each_once()
        assert len(metering.records) == 2  # failed attempts leave no record of their own

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_a_cooldown_ends_and_the_deployment_serves_again(
    tmp_path: Path, metering: FakeMetering, kind: str
) -> None:
    async def scenario() -> None:
        async with failover_world(tmp_path, metering, kind, {}) as world:
            world.mocks["first"].state.fail_status = 503
            _, events = await _call(world, stream=False)
            assert events.served[0].provider == "second"
            routes = await world.router.stub.ListRoutes(router_pb2.ListRoutesRequest())
            (first,) = [d for r in routes.routes if r.model == "chat" for d in r.deployments][:1]
            assert first.provider == "first" and first.consecutive_failures == 1
            assert first.cooling_until_unix_ms > time.time() * 1000
            assert "503" in first.recent_errors[0]  # the upstream status, in the message
            # Cooling: skipped even when it works again.
            world.mocks["first"].state.fail_status = None
            _, events = await _call(world, stream=False)
            assert events.served[0].provider == "second"
            await asyncio.sleep(0.5)  # past the 0.4 s cooldown: the next call probes it
            request, events = await _call(world, stream=True)
            assert (events.served[0].provider, events.served[0].attempts) == ("first", 1)
            record = await metering.one(request.request_id)
            assert (record.deployment, record.route_reason) == ("first/m-first", ASKED)
            routes = await world.router.stub.ListRoutes(router_pb2.ListRoutesRequest())
            first = next(d for r in routes.routes if r.model == "chat" for d in r.deployments)
            assert (first.cooling_until_unix_ms, first.consecutive_failures) == (0, 0)
            assert world.calls()["first"] == 2

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_a_started_stream_is_never_switched(
    tmp_path: Path, metering: FakeMetering, kind: str
) -> None:
    # Breaks once some text went out (Anthropic sends 3 events before its text).
    faults = {"first": {"break_after_chunks": 5}}

    async def scenario() -> None:
        async with failover_world(tmp_path, metering, kind, faults) as world:
            request, events = await _call(world, stream=True)
            assert events.content and events.errors  # output, then one error
            assert events.served[0].provider == "first"
            assert world.calls() == {"first": 1, "second": 0, "third": 0, "fourth": 0}
            record = await metering.one(request.request_id)
            assert (record.status, record.attempts, record.deployment) == (
                PARTIAL,
                1,
                "first/m-first",
            )

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_a_client_error_is_passed_on_at_once(
    tmp_path: Path, metering: FakeMetering, kind: str
) -> None:
    async def scenario() -> None:
        async with failover_world(tmp_path, metering, kind, {"first": {"fail_status": 400}}) as w:
            request, events = await _call(w, stream=False)
            (error,) = events.errors
            assert error.http_status == 400 and not events.served
            assert w.calls() == {"first": 1, "second": 0, "third": 0, "fourth": 0}
            record = await metering.one(request.request_id)
            assert (record.status, record.attempts) == (FAILED, 1)
            assert record.usage == common_pb2.Usage()  # costs nothing

    run(scenario())


def test_one_deadline_caps_every_attempt_and_wait(tmp_path: Path, metering: FakeMetering) -> None:
    hang = {"latency_ms": 5000}  # each attempt alone would take the provider's 1 s timeout
    faults = dict.fromkeys(("first", "second", "third", "fourth"), hang)
    routing = {"retry": {"backoff_seconds": 0.01, "deadline_seconds": 1.5}}

    async def scenario() -> None:
        async with failover_world(tmp_path, metering, "openai", faults, routing) as world:
            started = time.monotonic()
            request, events = await _call(world, stream=True)
            elapsed = time.monotonic() - started
            (error,) = events.errors
            assert (error.http_status, error.code) == (504, "upstream_timeout")
            assert 1.4 < elapsed < 3.5, elapsed  # not 4 attempts x 1 s (room for a loaded machine)
            assert sum(world.calls().values()) == 2
            record = await metering.one(request.request_id)
            # The attempt the deadline cut had the prompt: billed once, as partial.
            assert (record.status, record.attempts, record.deployment) == (
                PARTIAL,
                2,
                "second/m-second",
            )
            assert record.usage.completion_tokens == 0

    run(scenario())


def test_the_open_call_file_follows_the_serving_deployment(
    tmp_path: Path, metering: FakeMetering
) -> None:
    faults = {"first": {"fail_status": 502}, "second": {"token_delay_ms": 100}}

    async def scenario() -> None:
        async with failover_world(tmp_path, metering, "openai", faults) as world:
            request = world.router.request(_body(stream=True))
            path = world.router.settings.spool_dir / spool_name(request.request_id, OPEN)
            seen: list[metering_pb2.UsageRecord] = []
            async for event in world.router.stub.ChatCompletion(request, timeout=10):
                if event.WhichOneof("event") == "chunk" and not seen:
                    seen.append(metering_pb2.UsageRecord.FromString(path.read_bytes()))
            (opened,) = seen
            # Were the router to die now, the prompt is billed at the serving model.
            assert (opened.provider, opened.model_served, opened.deployment) == (
                "second",
                model_of("second"),
                "second/m-second",
            )
            assert opened.attempts == 2
            record = await metering.one(request.request_id)
            assert (record.status, record.deployment) == (OK, "second/m-second")

    run(scenario())
