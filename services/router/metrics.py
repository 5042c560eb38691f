"""The router's Prometheus metrics: every call's ending (from its usage record), each
upstream request (its latency, time to first token, errors), the spool's depth.

Labels are the configuration's: provider names and the models deployments serve (a
model a client asked for that no route has is never a label). Served on the router's
metrics listener (TOLLGATE_ROUTER_METRICS_LISTEN).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.router.spool import RECORD
from tollgate.observability.metrics import LATENCY_BUCKETS, child
from tollgate.v1 import metering_pb2

CALLS = Counter(
    "tollgate_router_calls",
    "Calls the router ended, by provider, model served, status (ok, failed, partial, "
    "interrupted) and whether the response cache answered.",
    ["provider", "model", "status", "cache_hit"],
)
UPSTREAM_REQUESTS = Counter(
    "tollgate_upstream_requests",
    "Requests to upstream providers (each failover attempt is one), by outcome: ok or error.",
    ["provider", "model", "outcome"],
)
UPSTREAM_ERRORS = Counter(
    "tollgate_upstream_errors",
    "Upstream requests that failed, by provider, model and the HTTP status the client "
    "is given for it (429 rate limited, 502 failed or refused credentials, 504 timed out).",
    ["provider", "model", "status"],
)
UPSTREAM_SECONDS = Histogram(
    "tollgate_upstream_request_duration_seconds",
    "Time from an upstream request to its last byte (a stream's end).",
    ["provider", "model"],
    buckets=LATENCY_BUCKETS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "tollgate_upstream_time_to_first_token_seconds",
    "Time from a streaming upstream request to its first chunk.",
    ["provider", "model"],
    buckets=LATENCY_BUCKETS,
)

_STATUSES = {
    metering_pb2.CALL_STATUS_OK: "ok",
    metering_pb2.CALL_STATUS_FAILED: "failed",
    metering_pb2.CALL_STATUS_PARTIAL: "partial",
    metering_pb2.CALL_STATUS_INTERRUPTED: "interrupted",
}


def call_recorded(record: metering_pb2.UsageRecord) -> None:
    """A call's final usage record went to the recorder: count how it ended."""
    status = _STATUSES.get(record.status, "unknown")
    hit = "true" if record.cache_hit else "false"
    child(CALLS, record.provider, record.model_served, status, hit).inc()


class Spooled(Protocol):
    @property
    def spool_dir(self) -> Path: ...

    @property
    def pending(self) -> int: ...

    @property
    def open_calls(self) -> int: ...


class SpoolCollector(Collector):
    """At each scrape: the spool's record files not yet delivered (every replica's, if
    they share it), and this process's records in delivery and calls in flight."""

    def __init__(self) -> None:
        self.recorder: Spooled | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        recorder = self.recorder
        if recorder is None:
            return
        try:
            depth = sum(1 for e in os.scandir(recorder.spool_dir) if e.name.endswith(RECORD))
        except OSError:
            depth = 0
        yield GaugeMetricFamily(
            "tollgate_router_spool_records",
            "Usage records in the spool directory that Metering has not acknowledged yet.",
            value=depth,
        )
        yield GaugeMetricFamily(
            "tollgate_router_records_sending",
            "Usage records this router process is delivering to Metering now.",
            value=recorder.pending,
        )
        yield GaugeMetricFamily(
            "tollgate_router_open_calls",
            "Calls this router process has in flight (each with an open file in the spool).",
            value=recorder.open_calls,
        )


SPOOL = SpoolCollector()
REGISTRY.register(SPOOL)


def watch_spool(recorder: Spooled | None) -> None:
    """The recorder whose spool /metrics reports (the process's running one)."""
    SPOOL.recorder = recorder
