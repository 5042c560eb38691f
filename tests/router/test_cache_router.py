"""The response cache inside the router, on a real mock upstream and a real
database: an identical deterministic request is answered without an upstream call,
as a response or a replayed stream, with a `Served` event first and a usage record
that says it was a hit (attempts 0, route reason CACHE, the stored usage, the
configured price fraction); `skip`, non-zero temperatures and failures are never
answered from or kept in the cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from services.router.main import RunningRouter
from tollgate.config import Settings, load_settings
from tollgate.v1 import common_pb2, router_pb2
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import (
    UPSTREAM_KEY,
    FakeMetering,
    RouterHarness,
    free_port,
    openai_provider,
    run,
    running_router,
)

Upstreams = Callable[..., MockUpstream]
MESSAGES = [{"role": "user", "content": "Say something deterministic."}]
SKIP = common_pb2.CACHE_MODE_SKIP
USE = common_pb2.CACHE_MODE_USE


def settings_with_cache(
    tmp_path: Path, database_url: str, metering: FakeMetering, upstream: MockUpstream, **cache: Any
) -> Settings:
    config = tmp_path / "tollgate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "providers": [openai_provider(upstream, ["gpt-4o"])],
                "cache": {"enabled": True, **cache},
            }
        )
    )
    return load_settings(
        {
            "TOLLGATE_HOME": str(tmp_path),
            "TOLLGATE_CONFIG": str(config),
            "TOLLGATE_DATABASE_URL": database_url,
            "TOLLGATE_ROUTER_LISTEN": f"127.0.0.1:{free_port()}",
            "TOLLGATE_METERING_ADDR": metering.addr,
            "UPSTREAM_KEY": UPSTREAM_KEY,
        }
    )


async def call(
    harness: RouterHarness, body: dict[str, Any], project: str = "proj_1", **fields: Any
) -> tuple[str, list[router_pb2.ChatEvent]]:
    request = harness.request(
        body, caller=common_pb2.Caller(project_id=project, key_id="key_1"), **fields
    )
    events = [e async for e in harness.stub.ChatCompletion(request, timeout=10)]
    await cache_of(harness.router).flush()  # the write after a miss runs in the background
    return request.request_id, events


def cache_of(router: RunningRouter) -> Any:
    return router.cache


def kinds(events: list[router_pb2.ChatEvent]) -> list[str]:
    return [e.WhichOneof("event") or "" for e in events]


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": MESSAGES, "temperature": 0, **extra}


def test_an_identical_request_is_answered_from_the_cache(
    tmp_path: Path, sqlite_url: str, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams()

    async def scenario() -> None:
        async with running_router(
            settings_with_cache(tmp_path, sqlite_url, metering, upstream)
        ) as harness:
            first_id, first = await call(harness, body())
            hit_id, hit = await call(harness, body(user="someone-else"))
            assert len(upstream.state.requests) == 1
            assert kinds(hit) == ["served", "response", "usage"]
            served = hit[0].served
            assert served.cache_hit and served.attempts == 0 and served.model == "gpt-4o"
            original = json.loads([e for e in first if e.HasField("response")][0].response)
            again = json.loads(hit[1].response)
            assert again["choices"] == original["choices"]
            assert again["usage"] == original["usage"] and again["id"] != original["id"]

            missed, record = await metering.one(first_id), await metering.one(hit_id)
            assert not missed.cache_hit and missed.route_reason != common_pb2.ROUTE_REASON_CACHE
            assert record.cache_hit and record.attempts == 0
            assert record.route_reason == common_pb2.ROUTE_REASON_CACHE
            assert record.usage == missed.usage and record.usage.prompt_tokens > 0
            assert record.cost_fraction == "0"
            assert record.model_served == "gpt-4o" and record.status == missed.status
            assert record.reference_model == "gpt-4o"  # savings priced at the asked model
            assert hit[-1].usage == missed.usage  # for the gateway's token limits

    run(scenario())


def test_a_streaming_request_is_answered_by_a_replayed_stream(
    tmp_path: Path, sqlite_url: str, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams()
    streaming = body(stream=True, stream_options={"include_usage": True})

    async def scenario() -> None:
        async with running_router(
            settings_with_cache(tmp_path, sqlite_url, metering, upstream, hit_price_fraction="0.25")
        ) as harness:
            _, first = await call(harness, streaming)  # stored from the stream itself
            hit_id, hit = await call(harness, streaming)
            assert len(upstream.state.requests) == 1
            assert kinds(hit)[0] == "served" and hit[0].served.cache_hit
            chunks = [json.loads(e.chunk) for e in hit if e.HasField("chunk")]
            original = [json.loads(e.chunk) for e in first if e.HasField("chunk")]

            def text(chunks: list[dict[str, Any]]) -> str:
                return "".join(
                    c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
                )

            assert text(chunks) == text(original) != ""
            assert chunks[-1]["usage"] == original[-1]["usage"]
            _, plain = await call(harness, body())  # the non-streaming twin hits too
            assert len(upstream.state.requests) == 1 and plain[0].served.cache_hit
            assert json.loads(plain[1].response)["choices"][0]["message"]["content"] == text(chunks)
            assert (await metering.one(hit_id)).cost_fraction == "0.25"

    run(scenario())


def test_skip_temperature_and_projects_keep_the_cache_out(
    tmp_path: Path, sqlite_url: str, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams()

    async def scenario() -> None:
        async with running_router(
            settings_with_cache(tmp_path, sqlite_url, metering, upstream)
        ) as harness:
            await call(harness, body(), cache_mode=SKIP)  # neither read nor written
            await call(harness, body())
            assert len(upstream.state.requests) == 2
            _, skipped = await call(harness, body(), cache_mode=SKIP)  # stored, but skipped
            assert len(upstream.state.requests) == 3 and not skipped[0].served.cache_hit
            _, other = await call(harness, body(), project="proj_2")  # never shared
            assert len(upstream.state.requests) == 4 and not other[0].served.cache_hit
            warm = body(temperature=0.7)
            await call(harness, warm)
            await call(harness, warm)
            assert len(upstream.state.requests) == 6  # not deterministic: not cached
            _, used = await call(harness, warm, cache_mode=USE)
            assert len(upstream.state.requests) == 7 and not used[0].served.cache_hit
            _, used = await call(harness, warm, cache_mode=USE)  # `use`: cached anyway
            assert len(upstream.state.requests) == 7 and used[0].served.cache_hit
            _, changed = await call(harness, body(max_tokens=5))
            assert len(upstream.state.requests) == 8 and not changed[0].served.cache_hit

    run(scenario())


def test_a_failed_call_is_not_cached(
    tmp_path: Path, sqlite_url: str, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams(fail_status=500)

    async def scenario() -> None:
        settings = settings_with_cache(tmp_path, sqlite_url, metering, upstream)
        async with running_router(settings) as harness:
            for _ in range(2):
                _, events = await call(harness, body())
                assert "error" in kinds(events)
            assert len(upstream.state.requests) >= 2  # each call went upstream

    run(scenario())


def test_a_disabled_cache_never_answers(
    tmp_path: Path, sqlite_url: str, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams()

    async def scenario() -> None:
        settings = settings_with_cache(tmp_path, sqlite_url, metering, upstream, enabled=False)
        async with running_router(settings) as harness:
            await call(harness, body())
            await call(harness, body())
            assert len(upstream.state.requests) == 2

    run(scenario())
