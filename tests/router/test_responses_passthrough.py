"""Responses API bodies through the running router (ChatRequest.api = API_RESPONSES):
posted to the upstream's /responses as they came, plain and streamed, with the usage
read in the Responses format and recorded once at the model that answered, after a
failover past a failing deployment; a provider without the Responses API refuses the
attempt; ListModels names the APIs every deployment of a route serves. And the
ResponseStore the router hosts: by project, until it expires."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tollgate.db import make_engine, upgrade
from tollgate.db.responses_models import STORED_RESPONSES
from tollgate.grpcutil import aio_channel
from tollgate.v1 import metering_pb2, responses_pb2, responses_pb2_grpc, router_pb2
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import UPSTREAM_KEY, FakeMetering, make_settings, run, running_router

OK = metering_pb2.CALL_STATUS_OK


def _provider(name: str, mock: MockUpstream, apis: list[str] | None) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "name": name,
        "kind": "openai",
        "base_url": mock.base_url,
        "api_key_env": "UPSTREAM_KEY",
        "timeout_seconds": 2.0,
    }
    if apis is not None:
        provider["apis"] = apis
    return provider


def _routes() -> list[dict[str, Any]]:
    return [
        {
            "model": "native",
            "deployments": [
                {"provider": "broken", "model": "m-broken", "weight": 1000},
                {"provider": "good", "model": "m-good", "weight": 1},
            ],
        },
        {"model": "mixed", "deployments": [{"provider": "good", "model": "m-good"},
                                           {"provider": "plain", "model": "m-plain"}]},
        {"model": "plain-only", "deployments": [{"provider": "plain", "model": "m-plain"}]},
    ]  # fmt: skip


@pytest.fixture
def mocks() -> Any:
    started = {
        "broken": MockUpstream(api_key=UPSTREAM_KEY, fail_status=503).start(),
        "good": MockUpstream(api_key=UPSTREAM_KEY).start(),
        "plain": MockUpstream(api_key=UPSTREAM_KEY).start(),
    }
    yield started
    for mock in started.values():
        mock.stop()


def _settings(tmp_path: Path, metering: FakeMetering, mocks: dict[str, MockUpstream]) -> Any:
    providers = [
        _provider("broken", mocks["broken"], ["responses"]),
        _provider("good", mocks["good"], ["responses"]),
        _provider("plain", mocks["plain"], None),
    ]
    settings = make_settings(tmp_path, metering.addr, providers, routes=_routes())
    upgrade(settings.database_url)  # the router's ResponseStore table
    return settings


def test_a_responses_body_passes_through_fails_over_and_bills_its_responses_usage(
    tmp_path: Path, metering: FakeMetering, mocks: dict[str, MockUpstream]
) -> None:
    settings = _settings(tmp_path, metering, mocks)
    body = {"model": "native", "input": "hello responses", "user": "ann"}

    async def scenario() -> None:
        async with running_router(settings) as router:
            listed = await router.stub.ListModels(router_pb2.ListModelsRequest())
            apis = {m.id: list(m.native_apis) for m in listed.models}
            assert apis["native"] == ["responses"]
            assert apis["mixed"] == [] and apis["plain-only"] == []

            plain = router.request(body, api=router_pb2.API_RESPONSES)
            events = await router.call(plain)
            assert not events.errors
            (answer,) = events.responses
            assert answer["object"] == "response" and answer["model"] == "m-good"
            text = answer["output"][0]["content"][0]["text"]
            record = await metering.one(plain.request_id)
            assert record.status == OK and record.model_served == "m-good"
            assert record.attempts == 2
            usage = answer["usage"]
            assert (record.usage.prompt_tokens, record.usage.completion_tokens) == (
                usage["input_tokens"],
                usage["output_tokens"],
            )
            assert events.usages[-1] == record.usage

            streamed = router.request({**body, "stream": True}, api=router_pb2.API_RESPONSES)
            events = await router.call(streamed)
            kinds = [chunk["type"] for chunk in events.chunks]
            assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
            deltas = [c["delta"] for c in events.chunks if c["type"].endswith("text.delta")]
            assert "".join(deltas) == text
            record = await metering.one(streamed.request_id)
            final = events.chunks[-1]["response"]["usage"]
            assert (record.usage.prompt_tokens, record.usage.completion_tokens) == (
                final["input_tokens"],
                final["output_tokens"],
            )

            refused = router.request({**body, "model": "plain-only"}, api=router_pb2.API_RESPONSES)
            events = await router.call(refused)
            (error,) = events.errors
            assert error.http_status == 400 and error.code == "responses_not_supported"
            record = await metering.one(refused.request_id)
            assert record.usage.prompt_tokens == 0 and record.usage.completion_tokens == 0

    run(scenario())
    sent = [json.dumps(b) for b in mocks["good"].state.requests]
    assert all('"input": "hello responses"' in b and '"messages"' not in b for b in sent)
    assert mocks["plain"].state.requests == []
    metering.assert_each_once()


def test_the_response_store_keeps_by_project_and_forgets_after_its_ttl(
    tmp_path: Path, metering: FakeMetering, mocks: dict[str, MockUpstream]
) -> None:
    settings = _settings(tmp_path, metering, mocks)
    settings = dataclasses.replace(settings, responses_ttl_seconds=1.0)

    def stored(project: str, response_id: str) -> responses_pb2.StoredResponse:
        return responses_pb2.StoredResponse(
            project_id=project,
            response_id=response_id,
            model="m",
            response=b'{"id": "%s"}' % response_id.encode(),
            input_items=b"[]",
        )

    async def scenario() -> None:
        async with running_router(settings) as router:
            channel = aio_channel(settings.listens["router"])
            store = responses_pb2_grpc.ResponseStoreStub(channel)
            try:
                await store.PutResponse(
                    responses_pb2.PutResponseRequest(response=stored("a", "resp_1"))
                )
                mine = await store.GetResponse(
                    responses_pb2.GetResponseRequest(project_id="a", response_id="resp_1")
                )
                assert mine.found and json.loads(mine.response.response) == {"id": "resp_1"}
                theirs = await store.GetResponse(
                    responses_pb2.GetResponseRequest(project_id="b", response_id="resp_1")
                )
                assert not theirs.found
                gone = await store.DeleteResponse(
                    responses_pb2.DeleteResponseRequest(project_id="b", response_id="resp_1")
                )
                assert not gone.deleted
                time.sleep(1.1)
                expired = await store.GetResponse(
                    responses_pb2.GetResponseRequest(project_id="a", response_id="resp_1")
                )
                assert not expired.found
                await store.PutResponse(
                    responses_pb2.PutResponseRequest(response=stored("a", "resp_2"))
                )
                deleted = await store.DeleteResponse(
                    responses_pb2.DeleteResponseRequest(project_id="a", response_id="resp_2")
                )
                assert deleted.deleted
                assert router.router.response_store is not None
                router.router.response_store.sweep_now()
            finally:
                await channel.close()

    run(scenario())
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        left = list(conn.execute(select(STORED_RESPONSES.c.response_id)))
    engine.dispose()
    assert left == []  # the expired row was swept
