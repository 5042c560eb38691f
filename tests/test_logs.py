"""Log lines: JSON with the fields operators filter on, the request id of the call they
were logged for (in the gateway and behind gRPC), and never a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

from tests.e2e.suite import free_port
from tollgate import telemetry
from tollgate.observability import logs
from tollgate.observability.grpc_scope import AioScopeServerInterceptor, ScopeServerInterceptor
from tollgate.v1 import metering_pb2

SECRET = "configured-admin-token-0123456789"
PROJECT_KEY = "tg-" + "A1b2C3d4" * 5 + "xyz"
UPSTREAM_KEY = "sk-proj-abcdefghijklmnop"


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A logger writing JSON lines to a buffer, as setup_logging's handler does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    redact = logs.Redactor([SECRET])
    handler.setFormatter(logs.JsonFormatter("gateway", redact))
    handler.addFilter(logs._Context(redact))
    logger = logging.getLogger("tests.logs.captured")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield stream, logger
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_call_s_request_id(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, logger = captured
    logger.info("before any call")
    with logs.request_scope(logs.RequestId("req_abc")):
        logger.warning("in %s", "a call", extra={"fields": {"status": 429, "route": "/v1/x"}})
    (before, during) = lines(stream)
    assert "request_id" not in before
    assert during["request_id"] == "req_abc" and during["message"] == "in a call"
    assert during["level"] == "WARNING" and during["service"] == "gateway"
    assert during["logger"] == "tests.logs.captured" and during["time"].endswith("Z")
    assert (during["status"], during["route"]) == (429, "/v1/x")


def test_an_id_given_after_the_call_started_is_on_later_lines(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, logger = captured

    class Later:
        request_id: str | None = None

    call = Later()
    with logs.request_scope(call):
        logger.info("first")
        call.request_id = "req_late"
        logger.info("second")
    first, second = lines(stream)
    assert "request_id" not in first and second["request_id"] == "req_late"


def test_secrets_never_reach_a_line(captured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, logger = captured
    logger.info("token %s key %s upstream %s", SECRET, PROJECT_KEY, UPSTREAM_KEY)
    logger.info("header", extra={"fields": {"authorization": f"Bearer {PROJECT_KEY}"}})
    try:
        raise ValueError(f"failed with {UPSTREAM_KEY} and Bearer {SECRET}")
    except ValueError:
        logger.exception("boom")
    text = stream.getvalue()
    for secret in (SECRET, PROJECT_KEY, UPSTREAM_KEY):
        assert secret not in text
    message, header, boom = lines(stream)
    assert message["message"] == "token [redacted] key [redacted] upstream [redacted]"
    assert header["authorization"] == "[redacted]"
    assert "ValueError" in boom["exc"] and "[redacted]" in boom["exc"]


def test_a_secret_learnt_later_is_scrubbed_too() -> None:
    redact = logs.Redactor()
    late = "internal-token-read-from-its-file"
    assert redact(f"x {late} y") == f"x {late} y"
    redact.add(late)
    assert redact(f"x {late} y") == "x [redacted] y"


def test_text_lines_are_scrubbed_as_well() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    redact = logs.Redactor([SECRET])
    handler.setFormatter(logs.TextFormatter("router", redact))
    handler.addFilter(logs._Context(redact))
    logger = logging.getLogger("tests.logs.text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("refused %s", SECRET)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("WARNING router: refused [redacted]")


class Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.ids.append(logs.current_request_id())


def _record(request_id: str) -> metering_pb2.UsageRecord:
    return metering_pb2.UsageRecord(request_id=request_id)


METHOD = "/tests.Logs/Record"


def _handler(behavior: Any, aio: bool) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "tests.Logs",
        {
            "Record": grpc.unary_unary_rpc_method_handler(
                behavior,
                request_deserializer=metering_pb2.UsageRecord.FromString,
                response_serializer=metering_pb2.RecordUsageResponse.SerializeToString,
            )
        },
    )


def test_lines_logged_behind_a_grpc_call_carry_its_request_id() -> None:
    seen = Seen()
    logger = logging.getLogger("tests.logs.grpc")
    logger.addHandler(seen)
    logger.setLevel(logging.INFO)

    def record(request: metering_pb2.UsageRecord, context: Any) -> Any:
        logger.info("recording")
        return metering_pb2.RecordUsageResponse()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2), interceptors=[ScopeServerInterceptor()]
    )
    server.add_generic_rpc_handlers((_handler(record, aio=False),))
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(
                METHOD,
                request_serializer=metering_pb2.UsageRecord.SerializeToString,
                response_deserializer=metering_pb2.RecordUsageResponse.FromString,
            )
            call(_record("req_one"), timeout=5)
            call(_record("req_two"), timeout=5)
    finally:
        server.stop(0)
        logger.removeHandler(seen)
    assert seen.ids == ["req_one", "req_two"]


def test_lines_logged_behind_an_aio_grpc_call_carry_its_request_id() -> None:
    asyncio.run(_aio_call())


async def _aio_call() -> None:
    seen = Seen()
    logger = logging.getLogger("tests.logs.aio")
    logger.addHandler(seen)
    logger.setLevel(logging.INFO)

    async def record(request: metering_pb2.UsageRecord, context: Any) -> Any:
        logger.info("recording")
        return metering_pb2.RecordUsageResponse()

    server = grpc.aio.server(interceptors=[AioScopeServerInterceptor()])
    server.add_generic_rpc_handlers((_handler(record, aio=True),))
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(
                METHOD,
                request_serializer=metering_pb2.UsageRecord.SerializeToString,
                response_deserializer=metering_pb2.RecordUsageResponse.FromString,
            )
            await call(_record("req_aio"), timeout=5)
    finally:
        await server.stop(0)
        logger.removeHandler(seen)
    assert seen.ids == ["req_aio"]
    assert logs.current_request_id() is None  # nothing leaks past the call


def test_tracing_is_off_and_free_by_default() -> None:
    """Unset, no SDK provider is installed: spans do not record and nothing is sent."""
    probe = (
        "from tollgate import telemetry\n"
        "telemetry.setup('gateway', env={})\n"
        "span = telemetry.tracer('probe').start_span('x')\n"
        "assert not telemetry.enabled() and not span.is_recording()\n"
        "assert telemetry.outgoing_metadata() == () and telemetry.upstream_headers() == {}\n"
        "from opentelemetry import trace\n"
        "assert type(trace.get_tracer_provider()).__name__ == 'ProxyTracerProvider'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_with_tracing_off_a_span_leaves_the_context_alone() -> None:
    assert not telemetry.enabled()
    before = otel_context.get_current()
    with telemetry.tracer("probe").start_as_current_span("x") as span:
        assert not span.is_recording()
        assert otel_context.get_current() is before  # nothing attached
    assert not telemetry.tracer("probe").start_span("y").is_recording()
    remote = (("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),)
    assert trace.get_current_span(telemetry.incoming_context(remote)) is trace.INVALID_SPAN
    assert telemetry.outgoing_metadata() == ()


def test_a_tracer_made_before_setup_records_once_tracing_is_on() -> None:
    probe = (
        "from tollgate import telemetry\n"
        "early = telemetry.tracer('probe')\n"
        "telemetry.setup('budget', env={'TOLLGATE_OTEL_EXPORTER': 'console'})\n"
        "remote = (('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),)\n"
        "parent = telemetry.incoming_context(remote)\n"
        "with early.start_as_current_span('x', context=parent) as span:\n"
        "    assert span.is_recording()\n"
        "    assert span.get_span_context().trace_id == 0x0af7651916cd43dd8448eb211c80319c\n"
        "    assert dict(telemetry.outgoing_metadata())['traceparent'].startswith('00-0af765')\n"
        "assert early.start_span('y').is_recording()\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().endswith("ok"), done.stderr


def test_an_unknown_exporter_is_refused() -> None:
    from tollgate.observability.tracing import setup_tracing

    with pytest.raises(SystemExit, match="TOLLGATE_OTEL_EXPORTER"):
        setup_tracing("gateway", {"TOLLGATE_OTEL_EXPORTER": "zipkin"})
