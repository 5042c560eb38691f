"""The Router gRPC service: walk the model's route, call a deployment's provider,
record the usage.

A call tries its route's deployments, then its fallbacks (routing/failover.py),
until one answers; a stream may move on only until its first chunk is in hand.
Before the first response or chunk the gateway is told what served (`Served`).
Whatever happens to a call (served, failed, broken mid-stream, cancelled by the
client) exactly one UsageRecord goes to the recorder, written where the upstream's
usage is seen. Before the upstream request the call is opened with the recorder
(durably: if this process dies, another router bills it as interrupted from the
last checkpoint of its output, see opencalls.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace

from services.router import responses_api
from services.router.cache import Outcome, ResponseCache
from services.router.cache.service import MISS
from services.router.callrecord import CallRecord
from services.router.embeddings import embed, model_not_found
from services.router.endings import CallTooLong, call_too_long, deadline_after, next_before
from services.router.opencalls import OpenCall, Recorder
from services.router.outcomes import CLIENT_CLOSED, OK, PARTIAL
from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    ChatCall,
    Completion,
    Provider,
    StreamChunk,
    UpstreamError,
    upstream_failed,
)
from services.router.routes_rpc import list_routes
from services.router.routing.failover import AllAttemptsFailed, Failover
from services.router.routing.table import Attempt
from services.router.routing.wiring import Routing
from services.router.usage_record import hand_over
from tollgate import telemetry
from tollgate.config import DEFAULT_MAX_CALL_SECONDS, Route
from tollgate.v1 import common_pb2, router_pb2, router_pb2_grpc

log = logging.getLogger(__name__)

TRACER = telemetry.tracer(__name__)


def _error_event(error: UpstreamError) -> router_pb2.ChatEvent:
    return router_pb2.ChatEvent(error=error.to_proto())


def _client_chunk(chunk: StreamChunk, include_usage: bool) -> bytes | None:
    """The chunk as the client asked for it; None when it is only for us (usage)."""
    if include_usage or "usage" not in chunk.data:
        return chunk.raw
    if not chunk.data.get("choices"):
        return None
    data = {k: v for k, v in chunk.data.items() if k != "usage"}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _parse_body(raw: bytes) -> JSON:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamError(
            400, INVALID_REQUEST, "invalid_json", "The request body is not a JSON object."
        )
    return body


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(
        self,
        routes: Mapping[str, Route],
        providers: Mapping[str, Provider],
        recorder: Recorder,
        max_call_seconds: float = DEFAULT_MAX_CALL_SECONDS,
        routing: Routing | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self._cache = cache or ResponseCache.disabled()  # docs/cache.md
        self._routes = dict(routes)
        self._providers = providers
        self._recorder = recorder
        self._max_call_seconds = max_call_seconds
        # Without a routing setup (tests building a servicer by hand): each model its
        # one deployment, cooldowns in memory.
        self._routing = routing or Routing.of_routes(routes)

    def _record(self, record: CallRecord) -> None:
        try:
            proto = record.to_proto()
        except Exception:
            # Never turn a served call into a failed RPC; the log keeps what was lost.
            log.exception("usage of %s not recorded", record.request.request_id)
            return
        record.recorded_usage = proto.usage
        hand_over(self._recorder, proto)

    async def ListModels(
        self, request: router_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ListModelsResponse:
        return router_pb2.ListModelsResponse(
            models=[
                router_pb2.ModelInfo(
                    id=r.model,
                    served_by=r.served_model,
                    provider=r.provider,
                    provider_kind=r.kind,
                    candidates=self._candidates(r),
                    native_apis=responses_api.native_apis(
                        self._routing.table, r.model, self._providers
                    ),
                )
                for r in sorted(self._routes.values(), key=lambda r: r.model)
            ]
        )

    def _candidates(self, route: Route) -> list[str]:
        """Every upstream model a call to `route` may reach (ModelInfo.candidates)."""
        try:
            return self._routing.table.upstream_models(route.model)
        except KeyError:  # a servicer built by hand with a table of other names
            return [route.served_model]

    async def ListRoutes(
        self, request: router_pb2.ListRoutesRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ListRoutesResponse:
        return await list_routes(self._routing)

    async def Embed(
        self, request: router_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.EmbedResponse:
        return await embed(
            request,
            self._routes,
            self._providers,
            self._recorder,
            context,
            self._routing,
            self._max_call_seconds,
        )

    async def ChatCompletion(
        self, request: router_pb2.ChatRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.ChatEvent]:
        try:
            plan = await self._routing.plan(request.model)
        except KeyError:
            yield _error_event(model_not_found(request.model))
            yield router_pb2.ChatEvent(usage=common_pb2.Usage())
            return
        try:
            body = _parse_body(request.body)
        except UpstreamError as exc:
            yield _error_event(exc)  # nothing was called: nothing to record
            yield router_pb2.ChatEvent(usage=common_pb2.Usage())
            return
        if not request.request_id:
            request.request_id = "req_" + uuid.uuid4().hex
        named = self._routes.get(request.model)
        served = named.served_model if named else request.model
        if request.api == responses_api.API_RESPONSES:
            cached = MISS  # the cache keeps chat answers only
        else:
            cached = await self._cache.lookup(request, served, body)
        if cached.hit is not None:  # answered from the cache: no upstream call
            reference = self._routing.reference_model(request.model_asked, request.model)
            async for event in self._cache.answer(request, cached.hit, reference):
                yield event
            return
        reference = self._routing.reference_model(request.model_asked, request.model)
        record = CallRecord(request, plan[0], body, reference)
        tracing = telemetry.enabled()
        span = TRACER.start_span(
            "router.chat",
            # Tests may drive the servicer directly, without a gRPC context.
            context=telemetry.incoming_context(
                context.invocation_metadata() if tracing and context else None
            ),
            attributes={
                "tollgate.request_id": request.request_id,
                "gen_ai.request.model": request.model,
            },
        )
        # Current for the whole call (one task drives it): the upstream requests' spans
        # are its children, and its usage record's delivery to Metering joins its trace.
        traced = otel_context.attach(trace.set_span_in_context(span)) if tracing else None
        deadline = deadline_after(self._max_call_seconds)
        failover = self._routing.failover(self._max_call_seconds)
        opened = self._recorder.open(request.request_id, record.interrupted)
        if request.stream:
            events = self._stream(plan, failover, record, deadline, opened)
        else:
            events = self._complete(plan, failover, record, opened)
        events = self._cache.keeping(
            events,
            request.caller.project_id,
            cached,
            lambda: Outcome(record.status, record.recorded_usage, record.served_model),
        )
        try:
            async for event in events:
                yield event
            if record.recorded_usage is not None:
                yield router_pb2.ChatEvent(usage=record.recorded_usage)
        finally:
            # If the client went away while we were handing on an event, the inner
            # generator still waits at its yield: close it now, so it records the call.
            await events.aclose()
            # Recorded, this does nothing; if recording failed, the open file stays
            # behind for a sweep to bill as interrupted: late, but not lost.
            opened.end(keep_file=True)
            if traced is not None:
                span.set_attributes(
                    {
                        "http.response.status_code": record.http_status,
                        "gen_ai.response.model": record.served_model,
                        "tollgate.provider": record.attempt.deployment.provider,
                        "tollgate.attempts": record.attempts,
                    }
                )
                span.end()
                otel_context.detach(traced)

    def _begin(self, record: CallRecord, attempt: Attempt, opened: OpenCall) -> ChatCall:
        """An attempt starts: the record, and the open call's file, follow it."""
        moved = attempt.deployment != record.attempt.deployment
        record.serve(attempt)
        if moved:
            opened.checkpoint()  # a crash now bills the prompt at this deployment's model
        return ChatCall(record.request.request_id, attempt.deployment.model, record.body)

    def _failed(self, record: CallRecord, failed: AllAttemptsFailed) -> UpstreamError:
        """The client's error when no attempt answered; the record says how it ended."""
        if failed.cut_off is None:
            record.fail(failed.error)
            return failed.error
        # The deadline ended an attempt in flight: its upstream took the prompt.
        whole_call = self._routing.deadline_seconds(self._max_call_seconds)
        ended = self._max_call_seconds <= whole_call
        error = call_too_long(self._max_call_seconds) if ended else failed.error
        record.finish(PARTIAL, error.http_status)
        return error

    async def _complete(
        self, plan: list[Attempt], failover: Failover, record: CallRecord, opened: OpenCall
    ) -> AsyncGenerator[router_pb2.ChatEvent, None]:
        error: UpstreamError | None = None
        response = b""

        async def attempt(to: Attempt) -> Completion:
            call = self._begin(record, to, opened)
            provider = self._providers[to.deployment.provider]
            return await responses_api.complete(provider, call, record.request.api)

        try:
            completion = (await failover.run(plan, attempt)).value
            record.provider_usage = completion.usage
            if completion.usage is None:
                responses_api.count_generated(
                    record.generated, completion.data, record.request.api, "message"
                )
            response = completion.body
            record.finish(OK, 200)
        except AllAttemptsFailed as failed:
            error = self._failed(record, failed)
        except asyncio.CancelledError:
            # The upstream may have taken the prompt; nothing was generated that we saw.
            record.finish(PARTIAL, CLIENT_CLOSED)
            raise
        except Exception:
            log.exception("non-streaming call %s failed", record.request.request_id)
            error = upstream_failed()
            record.fail(error)
        finally:
            self._record(record)
        if error is not None:
            yield _error_event(error)
            return
        yield router_pb2.ChatEvent(served=record.served())
        yield router_pb2.ChatEvent(response=response)

    async def _stream(
        self,
        plan: list[Attempt],
        failover: Failover,
        record: CallRecord,
        deadline: float,
        opened: OpenCall,
    ) -> AsyncGenerator[router_pb2.ChatEvent, None]:
        error: UpstreamError | None = None
        upstream: AsyncGenerator[StreamChunk, None] | None = None

        async def attempt(to: Attempt) -> Started:
            """The upstream stream and its first chunk: failover may move on until
            then, never after (a started stream stays where it started)."""
            call = self._begin(record, to, opened)
            provider = self._providers[to.deployment.provider]
            stream = responses_api.stream(provider, call, record.request.api)
            try:
                return stream, await anext(stream, None)
            except BaseException:
                await _close(stream, record)
                raise

        try:
            upstream, chunk = (await failover.run(plan, attempt)).value
            yield router_pb2.ChatEvent(served=record.served())
            while chunk is not None:
                if record.first_chunk is None:
                    record.first_chunk = chunk.data
                if chunk.usage is not None:
                    record.provider_usage = chunk.usage  # the last one seen; never added up
                responses_api.count_generated(
                    record.generated, chunk.data, record.request.api, "delta"
                )
                opened.advance()  # checkpoints the output every so many chunks
                data = _client_chunk(chunk, record.request.include_usage)
                if data is not None:
                    record.output_sent = True
                    yield router_pb2.ChatEvent(chunk=data)
                chunk = await next_before(deadline, upstream)
            record.finish(OK, 200)
        except AllAttemptsFailed as failed:
            error = self._failed(record, failed)
        except UpstreamError as exc:
            # After output the client has a 200 stream: a broken stream is one error.
            error = upstream_failed(exc.message) if record.output_sent else exc
            record.fail(error)
        except CallTooLong:
            error = call_too_long(self._max_call_seconds)
            record.finish(PARTIAL, error.http_status)
        except (asyncio.CancelledError, GeneratorExit):
            record.finish(PARTIAL, CLIENT_CLOSED)
            raise
        except Exception:
            log.exception("streaming call %s failed", record.request.request_id)
            error = upstream_failed()
            record.fail(error)
        finally:
            # Record first: it is synchronous, so even a second cancellation cannot lose it.
            self._record(record)
            if upstream is not None:
                await _close(upstream, record)  # the upstream stops generating
        if error is None or record.output_sent:
            # After a stream the client saw, before its error: the usage billed.
            estimated = record.estimated_usage_chunk()
            if estimated is not None:
                yield router_pb2.ChatEvent(chunk=estimated)
        if error is not None:
            yield _error_event(error)


Started = tuple[AsyncGenerator[StreamChunk, None], StreamChunk | None]


async def _close(upstream: AsyncGenerator[StreamChunk, None], record: CallRecord) -> None:
    """Close an upstream stream (its response: the upstream stops generating)."""
    try:
        await upstream.aclose()
    except Exception:
        log.exception("closing the upstream stream of %s failed", record.request.request_id)
