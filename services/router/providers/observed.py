"""Every upstream request, whatever its provider, is timed, counted and traced.

`Observed(provider, config)` wraps a `Provider` (registry.build_providers wraps each
one): a span `upstream.chat` (`upstream.responses`, `upstream.embed`) around the
request, a child of the call's `router.chat` span naming provider and model; its
duration, a streaming request's time to first chunk, and its failures by the status
the client is given (metrics.py). It changes nothing the provider does or raises.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable
from contextvars import Token
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, StatusCode

from services.router import metrics
from services.router.providers.base import (
    ChatCall,
    Completion,
    EmbedCall,
    Embeddings,
    Provider,
    StreamChunk,
    UpstreamError,
)
from tollgate import telemetry
from tollgate.config import ProviderConfig
from tollgate.observability.metrics import child

TRACER = telemetry.tracer(__name__)
T = TypeVar("T")


def _make_current(span: Span) -> Token[Context] | None:
    """Make `span` the current one (None, and nothing done, when tracing is off)."""
    return otel_context.attach(trace.set_span_in_context(span)) if telemetry.enabled() else None


def _restore(token: Token[Context] | None) -> None:
    if token is not None:
        otel_context.detach(token)


class Observed:
    def __init__(self, provider: Provider, config: ProviderConfig) -> None:
        self.name = provider.name
        self.kind = config.kind
        self._provider = provider
        # A provider that also takes Responses API bodies (openai.py) is observed alike;
        # one that does not still has no `respond` (responses_api.py asks with hasattr).
        self.apis = getattr(provider, "apis", ())
        if hasattr(provider, "respond"):
            self.respond = self._respond
        if hasattr(provider, "respond_stream"):
            self.respond_stream = self._respond_stream

    def _span(self, what: str, model: str, stream: bool) -> Span:
        return TRACER.start_span(
            f"upstream.{what}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "tollgate.provider": self.name,
                "gen_ai.system": self.kind,
                "gen_ai.request.model": model,
                "tollgate.stream": stream,
            },
        )

    def _ended(self, span: Span, model: str, started: float, error: BaseException | None) -> None:
        child(metrics.UPSTREAM_SECONDS, self.name, model).observe(time.perf_counter() - started)
        if error is None:
            child(metrics.UPSTREAM_REQUESTS, self.name, model, "ok").inc()
        elif isinstance(error, UpstreamError):
            child(metrics.UPSTREAM_REQUESTS, self.name, model, "error").inc()
            metrics.UPSTREAM_ERRORS.labels(self.name, model, str(error.http_status)).inc()
            span.set_attribute("http.response.status_code", error.http_status)
            span.set_status(StatusCode.ERROR, error.code)
        span.end()  # a cancelled request (the client went away) is neither

    async def _timed(self, what: str, model: str, answer: Awaitable[T]) -> T:
        span = self._span(what, model, False)
        token = _make_current(span)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await answer
        except BaseException as exc:
            error = exc
            raise
        finally:
            _restore(token)
            self._ended(span, model, started, error)

    async def complete(self, call: ChatCall) -> Completion:
        return await self._timed("chat", call.served_model, self._provider.complete(call))

    async def _respond(self, call: ChatCall) -> Completion:
        answer: Awaitable[Completion] = self._provider.respond(call)  # type: ignore[attr-defined]
        return await self._timed("responses", call.served_model, answer)

    def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        return self._streamed("chat", call, self._provider.stream(call))

    def _respond_stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        events = self._provider.respond_stream(call)  # type: ignore[attr-defined]
        return self._streamed("responses", call, events)

    async def _streamed(
        self, what: str, call: ChatCall, upstream: AsyncGenerator[StreamChunk, None]
    ) -> AsyncGenerator[StreamChunk, None]:
        model = call.served_model
        span = self._span(what, model, True)
        started = time.perf_counter()
        error: BaseException | None = None
        first = True
        try:
            while True:
                # The span is current only while the upstream runs (and sends its
                # request): never across a yield, which hands control to the caller.
                token = _make_current(span)
                try:
                    chunk = await anext(upstream, None)
                finally:
                    _restore(token)
                if chunk is None:
                    return
                if first:
                    first = False
                    waited = time.perf_counter() - started
                    child(metrics.FIRST_TOKEN_SECONDS, self.name, model).observe(waited)
                yield chunk
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                error = exc
            raise
        finally:
            await upstream.aclose()
            self._ended(span, model, started, error)

    async def embed(self, call: EmbedCall) -> Embeddings:
        return await self._timed("embed", call.served_model, self._provider.embed(call))

    async def aclose(self) -> None:
        await self._provider.aclose()
