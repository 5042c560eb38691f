"""Embeddings fail over like chat; ListRoutes shows routes, deployments, cooldowns,
recent errors and the rules; router replicas share cooldowns through Redis."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import redis

from services.router.routing.cooldown import Health
from tests.gateway.ratelimit_backends import REDIS_URL
from tollgate.config import Settings
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

from .failover_world import DEPLOYMENTS, failover_world
from .harness import FakeMetering, free_port, run, running_router

OK = metering_pb2.CALL_STATUS_OK
FAILED = metering_pb2.CALL_STATUS_FAILED
FALLBACK = common_pb2.ROUTE_REASON_FALLBACK
# The Redis keys of the failover world's deployments (only this module uses Redis).
COOLDOWN_KEYS = [f"tollgate:cooldown:{{{name}/m-{name}}}*" for name in DEPLOYMENTS]


def _embed_request(model: str, request_id: str) -> router_pb2.EmbedRequest:
    body = {"model": model, "input": ["one", "two"]}
    return router_pb2.EmbedRequest(
        request_id=request_id,
        caller=common_pb2.Caller(project_id="p", key_id="k"),
        model=model,
        body=json.dumps(body).encode(),
    )


def test_embeddings_fail_over_to_the_next_deployment_and_the_fallbacks(
    tmp_path: Path, metering: FakeMetering
) -> None:
    faults = {"first": {"fail_status": 503}, "second": {"fail_status": 500}}

    async def scenario() -> None:
        async with failover_world(tmp_path, metering, "openai", faults) as world:
            answer = await world.router.stub.Embed(_embed_request("chat", "req-emb-1"))
            assert answer.WhichOneof("result") == "body"
            assert len(json.loads(answer.body)["data"]) == 2
            record = await metering.one("req-emb-1")
            assert (record.status, record.deployment, record.attempts) == (
                OK,
                "third/m-third",
                3,
            )
            assert record.route_reason == FALLBACK and record.reference_model == "m-first"
            assert record.usage.prompt_tokens > 0
            # A 4xx is the request's own fault: passed on at once.
            world.mocks["third"].state.fail_status = 400
            answer = await world.router.stub.Embed(_embed_request("chat", "req-emb-2"))
            assert answer.error.http_status == 400
            record = await metering.one("req-emb-2")
            assert (record.status, record.attempts) == (FAILED, 1)
            assert record.usage == common_pb2.Usage()

    run(scenario())


def test_list_routes_shows_deployments_cooldowns_errors_and_rules(
    tmp_path: Path, metering: FakeMetering
) -> None:
    async def scenario() -> None:
        async with failover_world(
            tmp_path, metering, "openai", {"first": {"fail_status": 503}}
        ) as w:
            body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
            await w.router.call(w.router.request(body))
            reply = await w.router.stub.ListRoutes(router_pb2.ListRoutesRequest())
            routes = {r.model: r for r in reply.routes}
            assert sorted(routes) == ["chat", "last", "spare"]
            chat = routes["chat"]
            assert list(chat.fallbacks) == ["spare", "last"]
            first, second = chat.deployments
            assert (first.provider, first.model, first.weight) == ("first", "m-first", 1000)
            assert first.cooling_until_unix_ms > 0 and first.consecutive_failures == 1
            assert len(first.recent_errors) == 1 and "503" in first.recent_errors[0]
            assert (second.weight, second.cooling_until_unix_ms, list(second.recent_errors)) == (
                1,
                0,
                [],
            )
            (low,) = reply.priority_rules
            assert low.priority == common_pb2.PRIORITY_LOW and dict(low.models) == {"chat": "spare"}
            assert dict(reply.task_rules) == {"summarize": "last"}

    run(scenario())


def test_list_models_names_every_upstream_model_a_call_may_reach(
    tmp_path: Path, metering: FakeMetering
) -> None:
    """ModelInfo.candidates: the gateway sends them to Budget, which holds the dearest."""

    async def scenario() -> None:
        async with failover_world(tmp_path, metering, "openai", {}) as world:
            reply = await world.router.stub.ListModels(router_pb2.ListModelsRequest())
            candidates = {m.id: list(m.candidates) for m in reply.models}
            assert candidates == {
                "chat": ["m-first", "m-second", "m-third", "m-fourth"],
                "spare": ["m-third"],
                "last": ["m-fourth"],
            }

    run(scenario())


def _drop_cooldowns() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key for pattern in COOLDOWN_KEYS for key in client.scan_iter(match=pattern)]
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_router_replicas_share_cooldowns_through_redis(
    tmp_path: Path, metering: FakeMetering
) -> None:
    """A deployment that failed behind one router is skipped by the other."""
    _drop_cooldowns()
    faults = {"first": {"fail_status": 503}}

    async def scenario() -> None:
        long_cooldown = {"cooldown": {"seconds": 30}}
        async with failover_world(
            tmp_path / "a", metering, "openai", faults, long_cooldown
        ) as world:

            def replica(name: str) -> Settings:
                """Its own spool and port (gRPC shares a port: the world's router has it)."""
                return dataclasses.replace(
                    world.router.settings,
                    redis_url=REDIS_URL,
                    spool_dir=tmp_path / name / "spool",
                    listens={**world.router.settings.listens, "router": f"127.0.0.1:{free_port()}"},
                )

            async with running_router(replica("b")) as one, running_router(replica("c")) as two:
                body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
                events = await one.call(one.request(body))
                assert events.served[0].attempts == 2
                events = await two.call(two.request(body))
                assert events.served[0].attempts == 1  # `first` skipped: cooling in Redis
                assert world.calls()["first"] == 1
                state = await two.router.routing.cooldowns.state("first/m-first")
                assert state.health is Health.COOLING

    try:
        run(scenario())
    finally:
        _drop_cooldowns()
