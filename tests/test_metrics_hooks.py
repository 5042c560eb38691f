"""The hooks behind the metrics, in process: the gateway's Observe middleware (route
templates as labels, never a client's path; status of every answer, unhandled errors
included; the access line), and the router's Observed provider (latency, time to
first token, errors by provider and status; nothing about the call changed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from services.gateway import observe
from services.gateway.caller import Caller
from services.router.providers.base import ChatCall, Completion, StreamChunk, UpstreamError
from services.router.providers.observed import Observed
from tollgate.config import ProviderConfig
from tollgate.v1 import common_pb2, router_pb2


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- gateway ------------------------------------------------------------------------


async def served_call(request: Request) -> Response:
    observe.note_caller(Caller("key_1", "proj_hooks", "hooks", "USD"))
    observe.note_model("asked-model")
    observe.note_served(
        router_pb2.Served(model="m-hooks", provider="p-hooks", upstream_ms=0, cache_hit=True)
    )
    observe.note_usage(common_pb2.Usage(prompt_tokens=7, completion_tokens=3))
    return JSONResponse({"id": request.path_params["thing"]})


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


def app() -> Starlette:
    return Starlette(
        middleware=[Middleware(observe.Observe)],
        routes=[
            Route("/things/{thing}", served_call, methods=["POST"]),
            Route("/broken", broken),
        ],
    )


def test_requests_are_counted_by_route_template_status_and_model_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = {"route": "/things/{thing}", "method": "POST", "status": "200", "model": "m-hooks"}
    unmatched = {"route": "unmatched", "method": "GET", "status": "404", "model": ""}
    before = sample("tollgate_http_requests_total", **route)
    before_404 = sample("tollgate_http_requests_total", **unmatched)
    added = sample("tollgate_added_latency_seconds_count", route="/things/{thing}")
    with caplog.at_level(logging.INFO, logger="tollgate.access"), TestClient(app()) as client:
        for thing in ("a", "b"):
            assert client.post(f"/things/{thing}").status_code == 200
        assert client.get("/no/such/path/sk-secret-in-a-path").status_code == 404
    assert sample("tollgate_http_requests_total", **route) - before == 2
    assert sample("tollgate_http_requests_total", **unmatched) - before_404 == 1
    assert sample("tollgate_added_latency_seconds_count", route="/things/{thing}") - added == 2
    assert sample("tollgate_http_requests_in_flight") == 0
    lines = [r for r in caplog.records if r.name == "tollgate.access"]
    assert len(lines) == 3
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["project"] == "proj_hooks" and fields["key_id"] == "key_1"
    assert fields["model"] == "asked-model" and fields["model_served"] == "m-hooks"
    assert fields["prompt_tokens"] == 7 and fields["completion_tokens"] == 3
    assert fields["cache_hit"] is True and fields["status"] == 200
    assert lines[2].fields["route"] == "unmatched"  # type: ignore[attr-defined]


def test_an_unhandled_error_counts_as_the_500_it_is_answered_with() -> None:
    labels = {"route": "/broken", "method": "GET", "status": "500", "model": ""}
    before = sample("tollgate_http_requests_total", **labels)
    with TestClient(app(), raise_server_exceptions=False) as client:
        assert client.get("/broken").status_code == 500
    assert sample("tollgate_http_requests_total", **labels) - before == 1


def test_notes_outside_a_request_are_ignored() -> None:
    observe.note_caller(Caller("k", "p", "n", "USD"))  # no request: nothing to note, no error
    observe.note_usage(None)


# --- router -------------------------------------------------------------------------


class Fake:
    """A provider that answers, fails with `error`, or streams `chunks` chunks."""

    name = "p-fake"

    def __init__(self, error: UpstreamError | None = None, chunks: int = 3) -> None:
        self.error = error
        self.chunks = chunks
        self.closed = False

    async def complete(self, call: ChatCall) -> Completion:
        await asyncio.sleep(0)
        if self.error:
            raise self.error
        return Completion(b"{}", {}, None)

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        try:
            for n in range(self.chunks):
                await asyncio.sleep(0)
                yield StreamChunk(str(n).encode(), {"n": n}, None)
            if self.error:
                raise self.error
        finally:
            self.closed = True

    async def embed(self, call: Any) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


CONFIG = ProviderConfig("p-fake", "openai", ("m-fake",))
CALL = ChatCall("req_1", "m-fake", {})
LABELS = {"provider": "p-fake", "model": "m-fake"}


def test_an_upstream_error_is_counted_by_provider_and_status_and_raised_unchanged() -> None:
    error = UpstreamError(429, "rate_limit_error", "upstream_rate_limited", "slow down")
    before = sample("tollgate_upstream_errors_total", **LABELS, status="429")
    requests = sample("tollgate_upstream_requests_total", **LABELS, outcome="error")
    with pytest.raises(UpstreamError) as raised:
        asyncio.run(Observed(Fake(error), CONFIG).complete(CALL))
    assert raised.value is error
    assert sample("tollgate_upstream_errors_total", **LABELS, status="429") - before == 1
    assert sample("tollgate_upstream_requests_total", **LABELS, outcome="error") - requests == 1


def test_a_stream_is_timed_to_its_first_chunk_and_its_end() -> None:
    first = sample("tollgate_upstream_time_to_first_token_seconds_count", **LABELS)
    whole = sample("tollgate_upstream_request_duration_seconds_count", **LABELS)
    ok = sample("tollgate_upstream_requests_total", **LABELS, outcome="ok")

    async def read() -> list[bytes]:
        return [chunk.raw async for chunk in Observed(Fake(), CONFIG).stream(CALL)]

    assert asyncio.run(read()) == [b"0", b"1", b"2"]
    assert sample("tollgate_upstream_time_to_first_token_seconds_count", **LABELS) - first == 1
    assert sample("tollgate_upstream_request_duration_seconds_count", **LABELS) - whole == 1
    assert sample("tollgate_upstream_requests_total", **LABELS, outcome="ok") - ok == 1


def test_a_stream_closed_early_closes_its_upstream_and_counts_no_error() -> None:
    fake = Fake(chunks=10)
    errors = sample("tollgate_upstream_requests_total", **LABELS, outcome="error")

    async def first_only() -> None:
        stream = Observed(fake, CONFIG).stream(CALL)
        await anext(stream)
        await stream.aclose()

    asyncio.run(first_only())
    assert fake.closed
    assert sample("tollgate_upstream_requests_total", **LABELS, outcome="error") == errors


# --- the listener -------------------------------------------------------------------


def test_a_service_serves_its_metrics_on_its_own_listener_and_stops() -> None:
    import urllib.request

    from tests.e2e.suite import free_port
    from tollgate.observability.metrics import serve_metrics

    assert serve_metrics("router", "") is None  # unset: no listener
    address = f"127.0.0.1:{free_port()}"
    server = serve_metrics("router", address)
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    finally:
        server.stop()
    assert "# TYPE tollgate_upstream_requests_total counter" in text
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{address}/metrics", timeout=2)


@pytest.mark.parametrize("listen", ["9464", "host:", "host:0", "host:70000", "host:port"])
def test_a_bad_listen_address_is_refused(listen: str) -> None:
    from tollgate.observability.metrics import MetricsListenError, split_listen

    with pytest.raises(MetricsListenError, match="host:port"):
        split_listen(listen)


def test_listen_addresses_and_the_log_format_are_read_per_service() -> None:
    from tollgate.config import ConfigError, load_settings

    env = {"TOLLGATE_ROUTER_METRICS_LISTEN": "[::]:9101", "TOLLGATE_LOG_FORMAT": "JSON"}
    settings = load_settings(env)
    assert settings.metrics_listens == {
        "gateway": "",
        "router": "[::]:9101",
        "metering": "",
        "budget": "",
    }
    assert settings.log_format == "json"
    with pytest.raises(ConfigError, match="TOLLGATE_LOG_FORMAT"):
        load_settings({"TOLLGATE_LOG_FORMAT": "xml"})


def test_a_call_whose_router_died_is_counted_by_the_router_that_settles_it(
    tmp_path: Path,
) -> None:
    from services.router.recorder import UsageRecorder
    from tollgate.v1 import metering_pb2

    record = metering_pb2.UsageRecord(
        request_id="req_orphan",
        provider="p-orphan",
        model_served="m-orphan",
        status=metering_pb2.CALL_STATUS_INTERRUPTED,
    )
    (tmp_path / "req_orphan.open").write_bytes(record.SerializeToString())
    labels = {"provider": "p-orphan", "model": "m-orphan", "cache_hit": "false"}
    before = sample("tollgate_router_calls_total", **labels, status="interrupted")
    recorder = UsageRecorder(tmp_path, "127.0.0.1:9", open_stale_after=0)
    recorder.sweep()  # not started: it claims the orphan and leaves the record to send
    assert (tmp_path / "req_orphan.rec").exists()
    assert sample("tollgate_router_calls_total", **labels, status="interrupted") - before == 1
    recorder.sweep()  # a second sweep finds a record, not an orphan: counted once
    assert sample("tollgate_router_calls_total", **labels, status="interrupted") - before == 1
