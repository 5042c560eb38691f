"""The Router's Embed call: resolve the model, call its provider, record the usage.

Every call that reaches a provider ends in exactly one UsageRecord: ok with the
input tokens (the provider's count, or the tokenizer's when it reported none),
failed with none (a failed call costs nothing), or partial when the client went
away while the upstream was working (the upstream has the input: it bills it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping

import grpc

from services.router.outcomes import CLIENT_CLOSED, FAILED, OK, PARTIAL, now_ms
from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    EmbedCall,
    Provider,
    UpstreamError,
    upstream_failed,
)
from tollgate import embeddings, telemetry
from tollgate.config import Route
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

log = logging.getLogger(__name__)

TRACER = telemetry.tracer(__name__)

Record = Callable[[metering_pb2.UsageRecord], None]


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


def _usage_record(
    request: router_pb2.EmbedRequest,
    route: Route,
    provider: str,
    status: metering_pb2.CallStatus,
    http_status: int,
    usage: common_pb2.Usage,
    source: common_pb2.UsageSource,
) -> metering_pb2.UsageRecord:
    started = request.started_at_unix_ms or now_ms()
    return metering_pb2.UsageRecord(
        request_id=request.request_id,
        caller=request.caller,
        model_requested=request.model,
        model_served=route.served_model,
        provider=provider,
        usage=usage,
        usage_source=source,
        status=status,
        http_status=http_status,
        latency_ms=max(0, now_ms() - started),
        started_at_unix_ms=started,
        stream=False,
    )


async def embed(
    request: router_pb2.EmbedRequest,
    routes: Mapping[str, Route],
    providers: Mapping[str, Provider],
    record: Record,
    context: grpc.aio.ServicerContext | None,
) -> router_pb2.EmbedResponse:
    route = routes.get(request.model)
    if route is None:
        return _error(
            UpstreamError(
                404,
                INVALID_REQUEST,
                "model_not_found",
                f"The model `{request.model}` does not exist or you do not have access to it.",
                "model",
            )
        )
    try:
        body = _parse(request.body)
    except UpstreamError as exc:
        return _error(exc)  # nothing was called: nothing to record
    if not request.request_id:
        request.request_id = "req_" + uuid.uuid4().hex
    provider = providers[route.provider]
    span = TRACER.start_span(
        "router.embed",
        context=telemetry.incoming_context(context and context.invocation_metadata()),
        attributes={
            "tollgate.request_id": request.request_id,
            "gen_ai.request.model": request.model,
            "gen_ai.response.model": route.served_model,
            "tollgate.provider": provider.name,
        },
    )
    no_usage = common_pb2.Usage()
    estimated = common_pb2.USAGE_SOURCE_ESTIMATED
    outcome = _usage_record(request, route, provider.name, FAILED, 502, no_usage, estimated)
    try:
        answer = await provider.embed(EmbedCall(request.request_id, route.served_model, body))
        if answer.usage is not None:
            usage, source = answer.usage, common_pb2.USAGE_SOURCE_PROVIDER
        else:
            usage = common_pb2.Usage(prompt_tokens=_input_tokens(request, body, route.served_model))
            source = estimated
        outcome = _usage_record(request, route, provider.name, OK, 200, usage, source)
        return router_pb2.EmbedResponse(body=answer.body)
    except UpstreamError as exc:
        outcome.http_status = exc.http_status
        return _error(exc)
    except asyncio.CancelledError:
        # The upstream may already have taken (and billed) the input.
        tokens = common_pb2.Usage(prompt_tokens=_input_tokens(request, body, route.served_model))
        outcome = _usage_record(
            request, route, provider.name, PARTIAL, CLIENT_CLOSED, tokens, estimated
        )
        raise
    except Exception:
        log.exception("embeddings call %s failed", request.request_id)
        return _error(upstream_failed())
    finally:
        try:
            record(outcome)
        except Exception:
            # Never turn a served call into a failed RPC; the log keeps what was lost.
            log.exception("usage of %s not recorded", request.request_id)
        span.set_attribute("http.response.status_code", outcome.http_status)
        span.end()
