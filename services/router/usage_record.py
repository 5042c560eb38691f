"""One call's UsageRecord, built alike for chat and embeddings, and handed to the
recorder so that recording never fails the call.

A call's `Origin` is what the client asked, fixed when the call starts; each record
adds where it went (the attempt serving now, and how many were made) and how it
ended (`Ending`). Whatever route the call was sent down, a record served by
another route's deployment is a fallback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.router.opencalls import Recorder
from services.router.outcomes import now_ms
from services.router.routing.table import Attempt
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

log = logging.getLogger(__name__)

FALLBACK = common_pb2.ROUTE_REASON_FALLBACK
ASKED = common_pb2.ROUTE_REASON_ASKED


@dataclass(frozen=True)
class Ending:
    """How a call ended: its status, what the client saw, and the usage billed."""

    status: metering_pb2.CallStatus
    http_status: int
    usage: common_pb2.Usage
    source: common_pb2.UsageSource


@dataclass(frozen=True)
class Origin:
    """What the client asked, for every record of one call."""

    request_id: str
    caller: common_pb2.Caller
    model_requested: str  # as the client named it
    route: str  # the route the call was sent down
    route_reason: common_pb2.RouteReason  # why that route, when it serves
    stream: bool
    started_ms: int
    reference_model: str = ""
    compacted_tokens: int = 0

    @classmethod
    def of_chat(cls, request: router_pb2.ChatRequest, reference_model: str) -> Origin:
        return cls(
            request_id=request.request_id,
            caller=request.caller,
            model_requested=request.model_asked or request.model,
            route=request.model,
            route_reason=request.route_reason,
            stream=request.stream,
            started_ms=request.started_at_unix_ms or now_ms(),
            reference_model=reference_model,
            compacted_tokens=request.compacted_tokens,
        )

    @classmethod
    def of_embed(cls, request: router_pb2.EmbedRequest, reference_model: str) -> Origin:
        return cls(
            request_id=request.request_id,
            caller=request.caller,
            model_requested=request.model,
            route=request.model,
            route_reason=ASKED,
            stream=False,
            started_ms=request.started_at_unix_ms or now_ms(),
            reference_model=reference_model,
        )

    def record(self, attempt: Attempt, attempts: int, ending: Ending) -> metering_pb2.UsageRecord:
        """The call's record, billed at `attempt`'s deployment."""
        deployment = attempt.deployment
        return metering_pb2.UsageRecord(
            request_id=self.request_id,
            caller=self.caller,
            model_requested=self.model_requested,
            model_served=deployment.model,
            provider=deployment.provider,
            usage=ending.usage,
            usage_source=ending.source,
            status=ending.status,
            http_status=ending.http_status,
            latency_ms=max(0, now_ms() - self.started_ms),
            started_at_unix_ms=self.started_ms,
            stream=self.stream,
            deployment=deployment.key,
            attempts=attempts,
            route_reason=FALLBACK if attempt.route != self.route else self.route_reason,
            reference_model=self.reference_model,
            compacted_tokens=self.compacted_tokens,
        )


def hand_over(recorder: Recorder, record: metering_pb2.UsageRecord) -> bool:
    """Put the record with the recorder; False, logged, if it could not be. Never
    raises: a served call must not become a failed RPC. (The call's open file stays
    behind for a sweep to bill it as interrupted: late, but not lost.)"""
    try:
        recorder.put(record)
    except Exception:
        log.exception("usage of %s not recorded", record.request_id)
        return False
    return True
