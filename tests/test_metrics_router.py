"""The router's metrics on a running router (in process, a real mock upstream and the
response cache on): a miss and a hit are two calls, one of them `cache_hit="true"`, and
only the miss is an upstream request, timed, with its stream's first token."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

from tests.router.harness import (
    UPSTREAM_KEY,
    FakeMetering,
    free_port,
    openai_provider,
    running_router,
)
from tollgate.config import load_settings
from tollgate.v1 import common_pb2
from tollgate_mocks.openai_upstream import MockUpstream

MESSAGES = [{"role": "user", "content": "Say something deterministic."}]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_cache_hit_is_a_call_but_no_upstream_request(tmp_path: Path, sqlite_url: str) -> None:
    upstream = MockUpstream(api_key=UPSTREAM_KEY).start(timeout=60)
    metering = FakeMetering().start()
    config = tmp_path / "tollgate.yaml"
    provider = {**openai_provider(upstream, ["gpt-4o"]), "name": "metrics-mock"}
    config.write_text(yaml.safe_dump({"providers": [provider], "cache": {"enabled": True}}))
    settings = load_settings(
        {
            "TOLLGATE_HOME": str(tmp_path),
            "TOLLGATE_CONFIG": str(config),
            "TOLLGATE_DATABASE_URL": sqlite_url,
            "TOLLGATE_ROUTER_LISTEN": f"127.0.0.1:{free_port()}",
            "TOLLGATE_METERING_ADDR": metering.addr,
            "UPSTREAM_KEY": UPSTREAM_KEY,
        }
    )
    served = {"provider": "metrics-mock", "model": "gpt-4o"}
    names = (
        ("tollgate_router_calls_total", {**served, "status": "ok", "cache_hit": "false"}),
        # A hit is served by the cache, as its ledger row says (provider "cache").
        (
            "tollgate_router_calls_total",
            {"provider": "cache", "model": "gpt-4o", "status": "ok", "cache_hit": "true"},
        ),
        ("tollgate_upstream_requests_total", {**served, "outcome": "ok"}),
        ("tollgate_upstream_time_to_first_token_seconds_count", served),
    )
    before = [sample(name, **labels) for name, labels in names]
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": MESSAGES,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def scenario() -> None:
        async with running_router(settings) as harness:
            for _ in range(2):
                request = harness.request(
                    body, caller=common_pb2.Caller(project_id="proj_1", key_id="key_1")
                )
                [e async for e in harness.stub.ChatCompletion(request, timeout=10)]
                await harness.router.cache.flush()  # a miss is kept in the background

    try:
        asyncio.run(scenario())
    finally:
        metering.stop()
        upstream.stop()
    after = [sample(name, **labels) for name, labels in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]
    assert len(upstream.state.requests) == 1
