"""With TOLLGATE_OTEL_EXPORTER=otlp, one chat call is one trace across the gateway,
Budget, the router, the upstream request and Metering, exported by each service over
OTLP/gRPC to a collector: here a receiver on 127.0.0.1 that keeps what it is sent.

The upstream is the OpenAI mock on a local port, and TOLLGATE_OTEL_UPSTREAM_TRACEPARENT
is on, so the upstream request carries the trace too."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import openai
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.e2e.suite import free_port, start_suite, stop_suite
from tollgate_mocks.openai_upstream import MockUpstream

UPSTREAM_KEY = "sk-upstream-of-the-trace-test-0123456789"


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace collector that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def Export(  # noqa: N802 (the OTLP service's name)
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self.lock:
            for resource in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            {
                                "service": service,
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_id": span.parent_span_id.hex(),
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                            }
                        )
        return trace_service_pb2.ExportTraceServiceResponse()


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    collector = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    yield collector, port
    server.stop(0)


def test_one_call_is_one_trace_across_the_services_and_the_upstream(
    tmp_path: Path, receiver: tuple[Receiver, int]
) -> None:
    collector, port = receiver
    upstream = MockUpstream(api_key=UPSTREAM_KEY).start(timeout=60)  # a loaded machine is slow
    config = (
        "providers:\n"
        f"  - {{name: up, kind: openai, base_url: '{upstream.base_url}',"
        " api_key_env: TRACE_UPSTREAM_KEY, models: [m-up]}\n"
        "prices:\n"
        "  - {model: m-up, input: '1', output: '2', currency: USD}\n"
    )
    env = {
        "TOLLGATE_OTEL_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "TOLLGATE_OTEL_UPSTREAM_TRACEPARENT": "1",
        "TRACE_UPSTREAM_KEY": UPSTREAM_KEY,
    }
    suite = start_suite(
        tmp_path, f"sqlite:///{tmp_path / 'tollgate.db'}", config=config, extra_env=env
    )
    try:
        _, secret = suite.project_with_key("traced")
        sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
        raw = sdk.chat.completions.with_raw_response.create(
            model="m-up", messages=[{"role": "user", "content": "hi"}]
        )
        request_id = raw.headers["x-request-id"]
        trace = _wait_for_trace(collector, request_id, time.monotonic() + 30)
        sent = upstream.state.headers[-1]
    finally:
        stop_suite(suite)
        upstream.stop()
    by_name = {span["name"]: span for span in trace}
    gateway = by_name["POST /v1/chat/completions"]
    assert gateway["service"] == "tollgate-gateway"
    assert gateway["attributes"]["tollgate.request_id"] == request_id
    authorize, router = by_name["budget.authorize"], by_name["router.chat"]
    assert authorize["service"] == "tollgate-budget" and router["service"] == "tollgate-router"
    assert authorize["parent_id"] == gateway["span_id"] == router["parent_id"]
    call = by_name["upstream.chat"]
    assert call["service"] == "tollgate-router" and call["parent_id"] == router["span_id"]
    assert call["attributes"]["tollgate.provider"] == "up"
    assert call["attributes"]["gen_ai.request.model"] == "m-up"
    record = by_name["metering.record_usage"]
    assert record["service"] == "tollgate-metering" and record["parent_id"] == router["span_id"]
    settle = by_name["budget.settle"]
    assert settle["service"] == "tollgate-budget" and settle["parent_id"] == record["span_id"]
    # The upstream request carried the trace, naming the upstream call's span.
    version, trace_id, parent, _ = sent["traceparent"].split("-")
    assert (trace_id, parent) == (gateway["trace_id"], call["span_id"])


def _wait_for_trace(collector: Receiver, request_id: str, deadline: float) -> list[dict[str, Any]]:
    """The spans of the trace whose gateway span names `request_id`, once all six are in."""
    wanted = {
        "POST /v1/chat/completions",
        "budget.authorize",
        "router.chat",
        "upstream.chat",
        "metering.record_usage",
        "budget.settle",
    }
    while time.monotonic() < deadline:
        with collector.lock:
            spans = list(collector.spans)
        roots = [s for s in spans if s["attributes"].get("tollgate.request_id") == request_id]
        trace_ids = {s["trace_id"] for s in roots if s["name"] == "POST /v1/chat/completions"}
        if trace_ids:
            (trace_id,) = trace_ids
            trace = [s for s in spans if s["trace_id"] == trace_id]
            if wanted <= {s["name"] for s in trace}:
                return trace
        time.sleep(0.2)
    raise AssertionError(f"the trace never came whole: {sorted({s['name'] for s in spans})}")
