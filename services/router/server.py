"""The Router gRPC service: resolve the model, call its provider, record the usage.

Whatever happens to a call (served, failed, broken mid-stream, cancelled by the
client) exactly one UsageRecord goes to the recorder, written where the upstream's
usage is seen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, Protocol

import grpc

from services.router.embeddings import embed
from services.router.endings import (
    CallTooLong,
    before,
    call_too_long,
    deadline_after,
    next_before,
    usage_chunk,
)
from services.router.outcomes import (
    CLIENT_CLOSED,
    ESTIMATED,
    FAILED,
    OK,
    PARTIAL,
    PROVIDER,
    now_ms,
)
from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    ChatCall,
    Provider,
    StreamChunk,
    UpstreamError,
    upstream_failed,
)
from tollgate import telemetry
from tollgate.config import DEFAULT_MAX_CALL_SECONDS, Route
from tollgate.tokens import count_chat_prompt, count_text
from tollgate.v1 import common_pb2, metering_pb2, router_pb2, router_pb2_grpc

log = logging.getLogger(__name__)

TRACER = telemetry.tracer(__name__)


class Recorder(Protocol):
    def put(self, record: metering_pb2.UsageRecord) -> None: ...


def _error_event(error: UpstreamError) -> router_pb2.ChatEvent:
    return router_pb2.ChatEvent(error=error.to_proto())


class Generated:
    """The text an upstream generated, for counting when it reports no usage."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.tool_calls: dict[tuple[int, int], list[str]] = {}  # (choice, index) -> texts

    def add_message(self, message: Any, choice: int = 0) -> None:
        if not isinstance(message, dict):
            return
        for key in ("content", "refusal", "reasoning_content"):
            if isinstance(message.get(key), str):
                self.parts.append(message[key])
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if not isinstance(call, dict):
                    continue
                index = call.get("index", position)
                function = call.get("function")
                if isinstance(function, dict):
                    texts = self.tool_calls.setdefault((choice, index), ["", ""])
                    for slot, key in enumerate(("name", "arguments")):
                        if isinstance(function.get(key), str):
                            texts[slot] += function[key]

    def add_choices(self, data: JSON, key: str) -> None:
        choices = data.get("choices")
        if isinstance(choices, list):
            for position, choice in enumerate(choices):
                if isinstance(choice, dict):
                    self.add_message(choice.get(key), choice.get("index", position))

    def count(self, model: str) -> int:
        total = count_text("".join(self.parts), model) if self.parts else 0
        for name, arguments in self.tool_calls.values():
            total += count_text(name, model) + count_text(arguments, model)
        return total


class CallRecord:
    """What one call did, turned into its UsageRecord at the end."""

    def __init__(
        self, request: router_pb2.ChatRequest, route: Route, provider: str, body: JSON
    ) -> None:
        self.request = request
        self.body = body
        self.route = route
        self.provider = provider
        self.started_ms = request.started_at_unix_ms or now_ms()
        self.generated = Generated()
        self.provider_usage: common_pb2.Usage | None = None
        self.output_sent = False
        self.first_chunk: JSON | None = None  # its id and model name an estimated usage chunk
        self.status: metering_pb2.CallStatus = FAILED
        self.http_status = 502
        # The usage in the record sent to metering; the call's last event tells it the gateway.
        self.recorded_usage: common_pb2.Usage | None = None

    def finish(self, status: metering_pb2.CallStatus, http_status: int) -> None:
        self.status = status
        self.http_status = http_status

    def fail(self, error: UpstreamError) -> None:
        # Once the client has seen output, the upstream has billed for it.
        self.finish(PARTIAL if self.output_sent else FAILED, error.http_status)

    def estimated_usage_chunk(self) -> bytes | None:
        """The usage chunk for a client that asked for usage when the upstream sent
        none: what was recorded (the estimate), so the client sees what it is billed."""
        if (
            not self.request.include_usage
            or self.provider_usage is not None
            or self.recorded_usage is None
            or self.status == FAILED
        ):
            return None
        return usage_chunk(self.first_chunk, self.route.served_model, self.recorded_usage)

    def _prompt_estimate(self) -> int:
        if self.request.prompt_tokens_estimate > 0:
            return self.request.prompt_tokens_estimate
        messages = self.body.get("messages")
        tools = self.body.get("tools")
        try:
            return count_chat_prompt(
                messages if isinstance(messages, list) else [],
                self.route.served_model,
                tools if isinstance(tools, list) else None,
            )
        except Exception:
            log.exception("cannot count the prompt of %s", self.request.request_id)
            return 0

    def to_proto(self) -> metering_pb2.UsageRecord:
        if self.status == FAILED:
            usage, source = common_pb2.Usage(), ESTIMATED
        elif self.provider_usage is not None:
            usage, source = self.provider_usage, PROVIDER
        else:
            usage = common_pb2.Usage(
                prompt_tokens=self._prompt_estimate(),
                completion_tokens=self.generated.count(self.route.served_model),
            )
            source = ESTIMATED
        return metering_pb2.UsageRecord(
            request_id=self.request.request_id,
            caller=self.request.caller,
            model_requested=self.request.model,
            model_served=self.route.served_model,
            provider=self.provider,
            usage=usage,
            usage_source=source,
            status=self.status,
            http_status=self.http_status,
            latency_ms=max(0, now_ms() - self.started_ms),
            started_at_unix_ms=self.started_ms,
            stream=self.request.stream,
        )


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
    ) -> None:
        self._routes = dict(routes)
        self._providers = providers
        self._recorder = recorder
        self._max_call_seconds = max_call_seconds

    def _record(self, record: CallRecord) -> None:
        try:
            proto = record.to_proto()
            record.recorded_usage = proto.usage
            self._recorder.put(proto)
        except Exception:
            # Never turn a served call into a failed RPC; the log keeps what was lost.
            log.exception("usage of %s not recorded", record.request.request_id)

    async def ListModels(
        self, request: router_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ListModelsResponse:
        return router_pb2.ListModelsResponse(
            models=[
                router_pb2.ModelInfo(
                    id=r.model, served_by=r.served_model, provider=r.provider, provider_kind=r.kind
                )
                for r in sorted(self._routes.values(), key=lambda r: r.model)
            ]
        )

    async def Embed(
        self, request: router_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.EmbedResponse:
        return await embed(request, self._routes, self._providers, self._recorder.put, context)

    async def ChatCompletion(
        self, request: router_pb2.ChatRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.ChatEvent]:
        route = self._routes.get(request.model)
        if route is None:
            yield _error_event(
                UpstreamError(
                    404,
                    INVALID_REQUEST,
                    "model_not_found",
                    f"The model `{request.model}` does not exist or you do not have access to it.",
                    "model",
                )
            )
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
        provider = self._providers[route.provider]
        call = ChatCall(request.request_id, route.served_model, body)
        record = CallRecord(request, route, provider.name, body)
        span = TRACER.start_span(
            "router.chat",
            # Tests may drive the servicer directly, without a gRPC context.
            context=telemetry.incoming_context(context and context.invocation_metadata()),
            attributes={
                "tollgate.request_id": request.request_id,
                "gen_ai.request.model": request.model,
                "gen_ai.response.model": route.served_model,
                "tollgate.provider": provider.name,
            },
        )
        deadline = deadline_after(self._max_call_seconds)
        if request.stream:
            events = self._stream(provider, call, record, deadline)
        else:
            events = self._complete(provider, call, record, deadline)
        try:
            async for event in events:
                yield event
            if record.recorded_usage is not None:
                yield router_pb2.ChatEvent(usage=record.recorded_usage)
        finally:
            # If the client went away while we were handing on an event, the inner
            # generator still waits at its yield: close it now, so it records the call.
            await events.aclose()
            span.set_attribute("http.response.status_code", record.http_status)
            span.end()

    async def _complete(
        self, provider: Provider, call: ChatCall, record: CallRecord, deadline: float
    ) -> AsyncGenerator[router_pb2.ChatEvent, None]:
        error: UpstreamError | None = None
        response = b""
        try:
            completion = await before(deadline, provider.complete(call))
            record.provider_usage = completion.usage
            if completion.usage is None:
                record.generated.add_choices(completion.data, "message")
            response = completion.body
            record.finish(OK, 200)
        except UpstreamError as exc:
            error = exc
            record.fail(exc)
        except CallTooLong:
            # The upstream took the prompt and was generating: billed as partial.
            error = call_too_long(self._max_call_seconds)
            record.finish(PARTIAL, error.http_status)
        except asyncio.CancelledError:
            # The upstream may have taken the prompt; nothing was generated that we saw.
            record.finish(PARTIAL, CLIENT_CLOSED)
            raise
        except Exception:
            log.exception("non-streaming call %s failed", call.request_id)
            error = upstream_failed()
            record.fail(error)
        finally:
            self._record(record)
        yield _error_event(error) if error else router_pb2.ChatEvent(response=response)

    async def _stream(
        self, provider: Provider, call: ChatCall, record: CallRecord, deadline: float
    ) -> AsyncGenerator[router_pb2.ChatEvent, None]:
        error: UpstreamError | None = None
        upstream = provider.stream(call)
        try:
            while (chunk := await next_before(deadline, upstream)) is not None:
                if record.first_chunk is None:
                    record.first_chunk = chunk.data
                if chunk.usage is not None:
                    record.provider_usage = chunk.usage  # the last one seen; never added up
                record.generated.add_choices(chunk.data, "delta")
                data = _client_chunk(chunk, record.request.include_usage)
                if data is not None:
                    record.output_sent = True
                    yield router_pb2.ChatEvent(chunk=data)
            record.finish(OK, 200)
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
            log.exception("streaming call %s failed", call.request_id)
            error = upstream_failed()
            record.fail(error)
        finally:
            # Record first: it is synchronous, so even a second cancellation cannot lose it.
            self._record(record)
            try:
                await upstream.aclose()  # closes the upstream response: it stops generating
            except Exception:
                log.exception("closing the upstream stream of %s failed", call.request_id)
        if error is None or record.output_sent:
            # After a stream the client saw, before its error: the usage billed.
            estimated = record.estimated_usage_chunk()
            if estimated is not None:
                yield router_pb2.ChatEvent(chunk=estimated)
        if error is not None:
            yield _error_event(error)
