"""The Router's Embed call: walk the model's route (the same failover as chat),
call a deployment's provider, record the usage.

Every call that reaches a provider ends in exactly one UsageRecord: ok with the
input tokens (the provider's count, or the tokenizer's when it reported none),
failed with none (a failed call costs nothing), or partial when the client went
away while the upstream was working (the upstream has the input: it bills it).
Like a chat call, it is opened with the recorder before the upstream request, so a
router that dies mid-call leaves it billed as interrupted (the input tokens).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace

from services.router.opencalls import Recorder
from services.router.outcomes import (
    CLIENT_CLOSED,
    ESTIMATED,
    FAILED,
    INTERRUPTED,
    INTERRUPTED_HTTP_STATUS,
    OK,
    PARTIAL,
)
from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    EmbedCall,
    Embeddings,
    Provider,
    UpstreamError,
    upstream_failed,
)
from services.router.routing.failover import AllAttemptsFailed
from services.router.routing.table import Attempt
from services.router.routing.wiring import Routing
from services.router.usage_record import Ending, Origin, hand_over
from tollgate import embeddings, telemetry
from tollgate.config import DEFAULT_MAX_CALL_SECONDS, Route
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

log = logging.getLogger(__name__)

TRACER = telemetry.tracer(__name__)


def _error(error: UpstreamError) -> router_pb2.EmbedResponse:
    return router_pb2.EmbedResponse(error=error.to_proto())


def _parse(raw: bytes) -> JSON:
    """The request body; a 400 unless it is an object with a valid `input`."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamError(
            400, INVALID_REQUEST, "invalid_json", "The request body is not a JSON object."
        )
    problem = embeddings.input_error(body.get("input"))
    if problem is not None:
        raise UpstreamError(400, INVALID_REQUEST, "invalid_value", problem, "input")
    return body


def _input_tokens(request: router_pb2.EmbedRequest, body: JSON, model: str) -> int:
    if request.prompt_tokens_estimate > 0:
        return request.prompt_tokens_estimate
    return embeddings.count_tokens(embeddings.items(body["input"]), model)


def model_not_found(model: str) -> UpstreamError:
    return UpstreamError(
        404,
        INVALID_REQUEST,
        "model_not_found",
        f"The model `{model}` does not exist or you do not have access to it.",
        "model",
    )


class _Embedding:
    """One embeddings call down its plan: the deployment serving now, and its record."""

    def __init__(
        self, request: router_pb2.EmbedRequest, body: JSON, first: Attempt, reference: str
    ) -> None:
        self.request = request
        self.body = body
        self.attempt = first
        self.attempts = 0
        # reference: the asked name's first deployment's model
        self.origin = Origin.of_embed(request, reference)
        self.outcome = self.record(FAILED, 502, common_pb2.Usage(), ESTIMATED)

    def record(
        self,
        status: metering_pb2.CallStatus,
        http_status: int,
        usage: common_pb2.Usage,
        source: common_pb2.UsageSource,
    ) -> metering_pb2.UsageRecord:
        ending = Ending(status, http_status, usage, source)
        return self.origin.record(self.attempt, self.attempts, ending)

    def input_tokens(self) -> common_pb2.Usage:
        model = self.attempt.deployment.model
        return common_pb2.Usage(prompt_tokens=_input_tokens(self.request, self.body, model))

    def interrupted(self) -> metering_pb2.UsageRecord:
        record = self.record(INTERRUPTED, INTERRUPTED_HTTP_STATUS, self.input_tokens(), ESTIMATED)
        record.attempts = max(1, self.attempts)
        return record


async def embed(
    request: router_pb2.EmbedRequest,
    routes: Mapping[str, Route],
    providers: Mapping[str, Provider],
    recorder: Recorder,
    context: grpc.aio.ServicerContext | None,
    routing: Routing | None = None,
    max_call_seconds: float = DEFAULT_MAX_CALL_SECONDS,
) -> router_pb2.EmbedResponse:
    routing = routing or Routing.of_routes(routes)
    try:
        plan = await routing.plan(request.model)
    except KeyError:
        return _error(model_not_found(request.model))
    try:
        body = _parse(request.body)
    except UpstreamError as exc:
        return _error(exc)  # nothing was called: nothing to record
    if not request.request_id:
        request.request_id = "req_" + uuid.uuid4().hex
    span = TRACER.start_span(
        "router.embed",
        context=telemetry.incoming_context(context and context.invocation_metadata()),
        attributes={
            "tollgate.request_id": request.request_id,
            "gen_ai.request.model": request.model,
        },
    )
    # Current for the call (a coroutine: one task): the upstream request's span is its
    # child, and the usage record's delivery to Metering joins its trace.
    traced = otel_context.attach(trace.set_span_in_context(span))
    reference = routing.reference_model(request.model, request.model)
    call = _Embedding(request, body, plan[0], reference)
    opened = recorder.open(request.request_id, call.interrupted)

    async def attempt(to: Attempt) -> Embeddings:
        moved = to.deployment != call.attempt.deployment
        call.attempt, call.attempts = to, call.attempts + 1
        if moved:
            opened.checkpoint()  # a crash now bills the input at this deployment's model
        provider = providers[to.deployment.provider]
        return await provider.embed(EmbedCall(request.request_id, to.deployment.model, body))

    try:
        answer = (await routing.failover(max_call_seconds).run(plan, attempt)).value
        if answer.usage is not None:
            usage, source = answer.usage, common_pb2.USAGE_SOURCE_PROVIDER
        else:
            usage, source = call.input_tokens(), ESTIMATED
        call.outcome = call.record(OK, 200, usage, source)
        return router_pb2.EmbedResponse(
            body=answer.body, usage=usage, model_served=call.attempt.deployment.model
        )
    except AllAttemptsFailed as failed:
        if failed.cut_off is not None:  # the deadline ended it: the upstream had the input
            call.outcome = call.record(PARTIAL, 504, call.input_tokens(), ESTIMATED)
        else:
            status = failed.error.http_status
            call.outcome = call.record(FAILED, status, common_pb2.Usage(), ESTIMATED)
        return _error(failed.error)
    except asyncio.CancelledError:
        # The upstream may already have taken (and billed) the input.
        call.outcome = call.record(PARTIAL, CLIENT_CLOSED, call.input_tokens(), ESTIMATED)
        raise
    except Exception:
        log.exception("embeddings call %s failed", request.request_id)
        return _error(upstream_failed())
    finally:
        hand_over(recorder, call.outcome)
        opened.end(keep_file=True)
        span.set_attributes(
            {
                "http.response.status_code": call.outcome.http_status,
                "gen_ai.response.model": call.attempt.deployment.model,
                "tollgate.provider": call.attempt.deployment.provider,
            }
        )
        span.end()
        otel_context.detach(traced)
