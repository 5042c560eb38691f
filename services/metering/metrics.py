"""Metering's Prometheus metrics: what every new ledger row billed, by project and
model: calls, tokens and cost as Metering settled them (a repeated delivery of one
request id counts once, as the ledger does).

The cost counter is in the project's currency units, as a float: a chart of spend,
not a bill (bills are the ledger's exact sums). Labels: project ids, the model that
served (configuration names), currency, status. Served on Metering's metrics
listener (TOLLGATE_METERING_METRICS_LISTEN).
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from tollgate.money import NANO_PER_UNIT, format_amount
from tollgate.v1 import metering_pb2

ledger_log = logging.getLogger("tollgate.ledger")

CALLS = Counter(
    "tollgate_metered_calls",
    "Calls written to the ledger, by project, model served and status.",
    ["project", "model", "status"],
)
TOKENS = Counter(
    "tollgate_tokens",
    "Tokens billed, by project, model served and kind (prompt, completion, cached: part "
    "of prompt, cache_write: part of prompt, reasoning: part of completion).",
    ["project", "model", "kind"],
)
COST = Counter(
    "tollgate_cost",
    "What calls cost as settled, by project, model served and currency (currency units).",
    ["project", "model", "currency"],
)

_STATUSES = {
    metering_pb2.CALL_STATUS_OK: "ok",
    metering_pb2.CALL_STATUS_FAILED: "failed",
    metering_pb2.CALL_STATUS_PARTIAL: "partial",
    metering_pb2.CALL_STATUS_INTERRUPTED: "interrupted",
}


def ledger_row(record: metering_pb2.UsageRecord, cost_nano: int, currency: str) -> None:
    """A new ledger row was written for `record` at `cost_nano`."""
    project, model = record.caller.project_id, record.model_served
    status = _STATUSES.get(record.status, "unknown")
    CALLS.labels(project, model, status).inc()
    if record.status != metering_pb2.CALL_STATUS_FAILED:  # a failed call bills nothing
        usage = record.usage
        for kind, count in (
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
            ("cached", usage.cached_tokens),
            ("cache_write", usage.cache_write_tokens),
            ("reasoning", usage.reasoning_tokens),
        ):
            if count > 0:
                TOKENS.labels(project, model, kind).inc(count)
    if cost_nano > 0:
        COST.labels(project, model, currency).inc(cost_nano / NANO_PER_UNIT)


def log_row(record: metering_pb2.UsageRecord, cost_nano: int, currency: str) -> None:
    """The call's cost, once known: one line on the `tollgate.ledger` logger under the
    call's request id (the gateway's access line cannot know it: Metering settles the
    cost after the answer)."""
    if not ledger_log.isEnabledFor(logging.INFO):
        return
    cost = format_amount(cost_nano)
    status = _STATUSES.get(record.status, "unknown")
    usage = record.usage
    ledger_log.info(
        "%s %s %s %s/%s tokens=%d+%d cost=%s %s",
        record.request_id,
        status,
        record.caller.project_id,
        record.provider,
        record.model_served,
        usage.prompt_tokens,
        usage.completion_tokens,
        cost,
        currency,
        extra={
            "fields": {
                "project": record.caller.project_id,
                "key_id": record.caller.key_id,
                "model_served": record.model_served,
                "provider": record.provider,
                "status": status,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost": cost,
                "currency": currency,
            }
        },
    )
