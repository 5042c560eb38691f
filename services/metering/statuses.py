"""How a ledger row says a call ended and where its counts came from: the enums the
ledger stores (as their string values) and their mapping from the Metering contract."""

from __future__ import annotations

import enum

from tollgate.v1 import common_pb2, metering_pb2


class CallStatus(enum.StrEnum):
    OK = "ok"  # served to the end
    FAILED = "failed"  # failed before any output: costs nothing
    PARTIAL = "partial"  # cut short after some output: billed for what was generated
    # The router died mid-call; another settled it from its open-call file (estimated).
    INTERRUPTED = "interrupted"


class UsageSource(enum.StrEnum):
    PROVIDER = "provider"
    ESTIMATED = "estimated"


STATUSES = {
    metering_pb2.CALL_STATUS_OK: CallStatus.OK,
    metering_pb2.CALL_STATUS_FAILED: CallStatus.FAILED,
    metering_pb2.CALL_STATUS_PARTIAL: CallStatus.PARTIAL,
    metering_pb2.CALL_STATUS_INTERRUPTED: CallStatus.INTERRUPTED,
}
SOURCES = {
    common_pb2.USAGE_SOURCE_PROVIDER: UsageSource.PROVIDER,
    common_pb2.USAGE_SOURCE_ESTIMATED: UsageSource.ESTIMATED,
}
# Calls that were served, fully or in part, and billed; failed calls cost nothing.
BILLED = frozenset({CallStatus.OK, CallStatus.PARTIAL, CallStatus.INTERRUPTED})


class RouteReason(enum.StrEnum):
    """Why the served model is not the one asked (the contract's RouteReason); the
    ledger's route_reason column, and the savings report's levers."""

    ASKED = "asked"
    PRIORITY = "priority"
    TASK = "task"
    DOWNGRADE = "downgrade"
    PREFERENCE = "preference"
    FALLBACK = "fallback"
    CACHE = "cache"


ROUTE_REASONS = {
    value: RouteReason(name.removeprefix("ROUTE_REASON_").lower())
    for name, value in common_pb2.RouteReason.items()
}
