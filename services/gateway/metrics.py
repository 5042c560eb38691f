"""The gateway's Prometheus metrics: what clients asked and got, and how long tollgate
took. Served on the gateway's own metrics listener (TOLLGATE_GATEWAY_METRICS_LISTEN),
never on the client-facing port; `observe.py` counts every HTTP request.

Labels: `route` is the route's template (`/v1/chat/completions`, `/admin/projects/
{project_id}`), `unmatched` for a path no route has (a client's path is never a label);
`model` is the model that served (the router names it from the configuration), empty
when none did: never the model name a client typed.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from tollgate.observability.metrics import LATENCY_BUCKETS, OVERHEAD_BUCKETS

REQUESTS = Counter(
    "tollgate_http_requests",
    "HTTP requests answered by the gateway, by route, method, status and model served.",
    ["route", "method", "status", "model"],
)
REQUEST_SECONDS = Histogram(
    "tollgate_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its answer (streams included).",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
FIRST_BYTE_SECONDS = Histogram(
    "tollgate_http_time_to_first_byte_seconds",
    "Time from a routed call's arrival to the first byte of its answer (for a stream: "
    "its first token).",
    ["route", "model"],
    buckets=LATENCY_BUCKETS,
)
ADDED_SECONDS = Histogram(
    "tollgate_added_latency_seconds",
    "What tollgate added to a routed call before its first byte: the time to first "
    "byte less the time spent waiting on the upstream (auth, limits, budget, routing).",
    ["route"],
    buckets=OVERHEAD_BUCKETS,
)
IN_FLIGHT = Gauge("tollgate_http_requests_in_flight", "HTTP requests being answered now.")
