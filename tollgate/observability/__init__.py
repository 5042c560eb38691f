"""What a running tollgate tells its operators: Prometheus metrics (metrics.py), JSON
logs with request ids and no secrets (logs.py), OpenTelemetry traces across the
services (tracing.py, grpc_scope.py). docs/observability.md describes them."""
