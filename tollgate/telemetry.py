"""Logging and OpenTelemetry tracing, set up once per process (the parts live in
tollgate/observability/: logs.py, tracing.py, metrics.py, grpc_scope.py).

Secrets never reach a log line: services log key ids and project ids, never the
`Authorization` header, a key's secret or an upstream key, and every line is scrubbed
of the secrets the process holds besides (logs.Redactor).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from tollgate.observability.logs import setup_logging
from tollgate.observability.tracing import (
    enabled,
    incoming_context,
    outgoing_metadata,
    setup_tracing,
    tracer,
    upstream_headers,
)
from tollgate.settings.model import Settings

__all__ = [
    "enabled",
    "incoming_context",
    "outgoing_metadata",
    "secrets_of",
    "setup",
    "setup_service",
    "tracer",
    "upstream_headers",
]

_configured = False


def secrets_of(settings: Settings) -> list[str]:
    """Every secret `settings` holds, for the logs to scrub."""
    found = [settings.admin_token, settings.internal_token, settings.redis_url]
    for provider in settings.providers:
        found += [provider.api_key, provider.proxy]
    for hook in settings.alerts.webhooks:
        found += [hook.url, hook.secret]
    if settings.alerts.email is not None:
        found.append(settings.alerts.email.password)
    return [s for s in found if s]


def setup_service(service: str, settings: Settings) -> None:
    """`setup` as `tollgate serve <service>` wants it, from the service's settings."""
    setup(service, settings.log_level, settings.log_format, secrets_of(settings))


def setup(
    service: str,
    level: str = "INFO",
    log_format: str = "text",
    secrets: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> None:
    """Log to stderr (`text`: `time level service: message`; `json`: one object a
    line, see observability/logs.py), scrubbed of `secrets`; trace as
    TOLLGATE_OTEL_EXPORTER says (off, console or otlp: observability/tracing.py)."""
    global _configured
    if _configured:
        return
    _configured = True
    setup_logging(service, level, log_format, secrets)
    setup_tracing(service, os.environ if env is None else env)
