"""OpenTelemetry tracing, set up once per process: off (the default, and free: no SDK
provider, spans are non-recording), `console` (each span printed as it ends, a
debugging aid) or `otlp` (batched to an OpenTelemetry collector over OTLP/gRPC).

    TOLLGATE_OTEL_EXPORTER=otlp
    OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317   # the standard OTEL_* variables
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, _HEADERS, _INSECURE, OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES

A trace crosses the services in gRPC metadata (`traceparent`, see grpc_scope.py); it
goes to an upstream provider only when TOLLGATE_OTEL_UPSTREAM_TRACEPARENT=1 (a trace id
means nothing to a third party, and tells it which calls belong together: send it to
upstreams you run yourself).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context

log = logging.getLogger(__name__)

EXPORTERS = ("", "none", "console", "otlp")


class _State:
    enabled = False
    upstream_traceparent = False


def enabled() -> bool:
    """True when this process records and exports spans."""
    return _State.enabled


def setup_tracing(service: str, env: Mapping[str, str]) -> None:
    exporter = env.get("TOLLGATE_OTEL_EXPORTER", "").strip().lower()
    _State.upstream_traceparent = env.get("TOLLGATE_OTEL_UPSTREAM_TRACEPARENT", "") in ("1", "true")
    if exporter not in EXPORTERS:
        raise SystemExit(
            f"TOLLGATE_OTEL_EXPORTER: {exporter!r} is not one of console, otlp (or unset)"
        )
    if exporter in ("", "none"):
        return  # the API's no-op provider: nothing recorded, nothing exported
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource.create({"service.name": f"tollgate-{service}"}))
    if exporter == "console":
        # Synchronous: a debugging aid, so every span shows at once and none is lost.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        # Batched off the request path; flushed at exit (the provider's atexit hook).
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _State.enabled = True
    log.info("tracing: %s exporter", exporter)


class _Tracer(trace.Tracer):
    """The tracer `tracer(name)` gives: off, a span costs nothing (not even the
    context-variable attach the API's no-op tracer makes); on, the provider's tracer.
    Decided at each span, so a tracer made at import, before setup, follows setup."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._real: trace.Tracer | None = None

    def _tracer(self) -> trace.Tracer:
        if self._real is None:
            self._real = trace.get_tracer(self._name)
        return self._real

    def start_span(
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> trace.Span:
        if not _State.enabled:
            return trace.INVALID_SPAN
        return self._tracer().start_span(name, context, *args, **kwargs)

    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> AbstractContextManager[trace.Span]:
        if not _State.enabled:
            return _NO_SPAN
        return self._tracer().start_as_current_span(name, context, *args, **kwargs)


_NO_SPAN = nullcontext(trace.INVALID_SPAN)  # reusable: it holds no state
_NO_CONTEXT = Context()


def tracer(name: str) -> trace.Tracer:
    return _Tracer(name)


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """The current trace context as gRPC metadata, for the next service's spans."""
    if not _State.enabled:
        return ()
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())


def incoming_context(metadata: Iterable[tuple[str, str | bytes]] | None) -> context.Context:
    """The caller's trace context from gRPC metadata (an empty context when none, or
    when this process does not trace)."""
    if not _State.enabled:
        return _NO_CONTEXT
    carrier = {k: v for k, v in metadata or () if isinstance(v, str)}
    return propagate.extract(carrier)


def upstream_headers() -> dict[str, str]:
    """`traceparent` for an upstream request, when the operator asked for it."""
    if not (_State.enabled and _State.upstream_traceparent):
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
