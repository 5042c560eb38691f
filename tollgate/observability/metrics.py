"""Prometheus metrics: each service's own listener, and what every service shares.

Each service keeps its metrics in prometheus-client's process registry (module-level
Counters and Histograms in `services/<name>/metrics.py`; an increment is a lock-free
add for the hot path) and serves them on a listener of its own:
`TOLLGATE_<SERVICE>_METRICS_LISTEN=host:port` (off when unset) answers `GET /metrics`
in Prometheus' text format, from a thread beside the service.

Labels are bounded: project ids (operators create projects), models and providers the
configuration names, statuses and routes the code names. Never a key, a secret, an
end user or a model name as a client typed it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

log = logging.getLogger(__name__)

# Latency buckets in seconds: from a cache hit's milliseconds to a long generation.
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)
# What tollgate adds to a call: a few milliseconds, when all is well.
OVERHEAD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class MetricsListenError(ValueError):
    """A metrics listen address cannot be used; the message names it."""


def split_listen(listen: str) -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6]:port"."""
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise MetricsListenError(f"metrics listen address {listen!r} is not host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


@dataclass
class MetricsServer:
    """A running /metrics listener; `stop()` closes it."""

    address: str
    _server: WSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(
    service: str, listen: str, registry: CollectorRegistry = REGISTRY
) -> MetricsServer | None:
    """Serve `registry` at http://listen/metrics from a daemon thread; None when
    `listen` is empty (metrics off)."""
    if not listen:
        return None
    host, port = split_listen(listen)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise SystemExit(f"{service}: cannot serve metrics on {listen}: {exc}") from None
    log.info("%s serving Prometheus metrics on http://%s/metrics", service, listen)
    return MetricsServer(listen, server, thread)


_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, cached: prometheus-client's `labels` takes a lock and
    checks its arguments on every call, and the hot path asks for the same few series
    again and again (their labels are bounded, so the cache is)."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def guarded(collect: Callable[[], None], what: str) -> Callable[[], None]:
    """`collect`, which must never fail a scrape: a failure is logged and skipped."""

    def run() -> None:
        try:
            collect()
        except Exception:
            log.exception("collecting %s for /metrics failed", what)

    return run
