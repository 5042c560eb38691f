"""Logging and OpenTelemetry tracing, set up once per process.

Secrets never reach a log line: services log key ids and project ids, never the
`Authorization` header, a key's secret or an upstream key.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

_configured = False


def setup(service: str, level: str = "INFO") -> None:
    """Log to stderr as `time level service: message`; trace with OpenTelemetry.

    Spans go nowhere unless TOLLGATE_OTEL_EXPORTER=console (an OTLP exporter can be
    added by installing one and setting the standard OTEL_* variables)."""
    global _configured
    if _configured:
        return
    _configured = True
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {service}: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    provider = TracerProvider(resource=Resource.create({"service.name": f"tollgate-{service}"}))
    if os.environ.get("TOLLGATE_OTEL_EXPORTER", "").lower() == "console":
        # Synchronous: a debugging aid, so every span shows at once and none is lost.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """The current trace context as gRPC metadata, for the next service's spans."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())


def incoming_context(metadata: Iterable[tuple[str, str | bytes]] | None) -> context.Context:
    """The caller's trace context from gRPC metadata (an empty context when none)."""
    carrier = {k: v for k, v in metadata or () if isinstance(v, str)}
    return propagate.extract(carrier)
