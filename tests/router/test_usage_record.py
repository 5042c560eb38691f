"""The one record-the-call helper chat and embeddings share: the same fields from
each kind of request, a fallback named as one, latency from the call's start, and
a recorder that fails never failing the call."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from services.router.embeddings import embed
from services.router.outcomes import OK, PROVIDER
from services.router.providers.base import EmbedCall, Embeddings
from services.router.providers.registry import build_provider
from services.router.routing.table import Attempt
from services.router.usage_record import Ending, Origin, hand_over
from tests.router.recorders import ListRecorder
from tollgate.config import ProviderConfig, Route
from tollgate.routing_config import DeploymentConfig
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

from .harness import run

CALLER = common_pb2.Caller(project_id="p", key_id="k")
SERVED = Attempt("fast", DeploymentConfig("up", "m-1"))
ENDED = Ending(OK, 200, common_pb2.Usage(prompt_tokens=3, completion_tokens=4), PROVIDER)


def test_a_chat_record_names_what_was_asked_and_what_served() -> None:
    request = router_pb2.ChatRequest(
        request_id="r1",
        caller=CALLER,
        model="fast",
        model_asked="gpt-4o",
        stream=True,
        started_at_unix_ms=1000,
        route_reason=common_pb2.ROUTE_REASON_PRIORITY,
        compacted_tokens=7,
    )
    record = Origin.of_chat(request, "m-ref").record(SERVED, 2, ENDED)
    assert (record.request_id, record.caller.project_id) == ("r1", "p")
    assert (record.model_requested, record.model_served, record.provider) == (
        "gpt-4o",
        "m-1",
        "up",
    )
    assert (record.deployment, record.attempts, record.stream) == ("up/m-1", 2, True)
    assert record.route_reason == common_pb2.ROUTE_REASON_PRIORITY
    assert (record.reference_model, record.compacted_tokens) == ("m-ref", 7)
    assert (record.status, record.http_status, record.usage_source) == (OK, 200, PROVIDER)
    assert record.usage.completion_tokens == 4 and record.started_at_unix_ms == 1000


def test_an_embedding_record_is_asked_unless_a_fallback_served_it() -> None:
    request = router_pb2.EmbedRequest(request_id="r2", caller=CALLER, model="fast")
    origin = Origin.of_embed(request, "m-ref")
    record = origin.record(SERVED, 1, ENDED)
    assert (record.model_requested, record.stream, record.reference_model) == (
        "fast",
        False,
        "m-ref",
    )
    assert record.route_reason == common_pb2.ROUTE_REASON_ASKED
    fallback = origin.record(Attempt("slow", DeploymentConfig("other", "m-2")), 3, ENDED)
    assert fallback.route_reason == common_pb2.ROUTE_REASON_FALLBACK
    assert (fallback.deployment, fallback.attempts) == ("other/m-2", 3)


class SlowEmbedder:
    name = "slow"

    async def embed(self, call: EmbedCall) -> Embeddings:
        await asyncio.sleep(0.2)
        return Embeddings(body=b'{"data": []}', usage=common_pb2.Usage(prompt_tokens=1))

    async def aclose(self) -> None:
        return None


def test_an_embedding_without_a_start_time_is_timed_from_its_start() -> None:
    """The gateway sends a start time; a caller that does not still gets the call's
    latency, not the time between two records."""
    recorder = ListRecorder()
    request = router_pb2.EmbedRequest(
        request_id="r3", caller=CALLER, model="e", body=b'{"model": "e", "input": "hi"}'
    )
    routes = {"e": Route("e", "m-e", "slow")}
    before = int(time.time() * 1000)
    answer = run(embed(request, routes, {"slow": SlowEmbedder()}, recorder, None))  # type: ignore[dict-item]
    assert answer.body and len(recorder.records) == 1
    record = recorder.records[0]
    assert record.started_at_unix_ms >= before and record.latency_ms >= 200


class BrokenRecorder(ListRecorder):
    def put(self, record: metering_pb2.UsageRecord) -> None:
        raise OSError("disk full")


def test_a_recorder_that_fails_is_logged_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    record = Origin.of_embed(router_pb2.EmbedRequest(request_id="r4"), "").record(SERVED, 1, ENDED)
    with caplog.at_level(logging.ERROR):
        assert hand_over(BrokenRecorder(), record) is False
    assert "usage of r4 not recorded" in caplog.text
    kept = ListRecorder()
    assert hand_over(kept, record) is True and kept.records == [record]


def test_an_embedding_is_answered_when_its_record_cannot_be_kept() -> None:
    request = router_pb2.EmbedRequest(
        request_id="r5", caller=CALLER, model="e", body=b'{"model": "e", "input": "hi"}'
    )
    demo = build_provider(ProviderConfig(name="demo", kind="demo", models=("demo-embedding",)))
    routes = {"e": Route("e", "demo-embedding", "demo")}
    answer = run(embed(request, routes, {"demo": demo}, BrokenRecorder(), None))
    assert answer.WhichOneof("result") == "body"
