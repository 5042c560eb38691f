"""Logging and OpenTelemetry tracing, set up once per process.

Secrets never reach a log line: services log key ids and project ids, never the
`Authorization` header, a key's secret or an upstream key.
"""

from __future__ import annotations

import logging
import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

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
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
