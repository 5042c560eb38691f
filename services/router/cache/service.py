"""The response cache as the router's ChatCompletion uses it: look a request up
before any upstream call, answer a hit, and keep a successful answer.

A hit is answered without an upstream call: a `Served` event (cache_hit, attempts 0),
then the stored response, or its replay as a stream; its usage record (cache_hit,
route reason CACHE, the stored usage, `cost_fraction` = cache.hit_price_fraction)
goes to the recorder like any call's. A miss is stored after its answer finished
well (status OK), in the background: the client never waits for the write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from services.router.cache import replay
from services.router.cache.assemble import assemble
from services.router.cache.key import cache_key, cacheable
from services.router.cache.store import CachedAnswer, CacheStore
from services.router.outcomes import OK, PROVIDER, now_ms
from tollgate.cache_config import CacheSettings
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

log = logging.getLogger(__name__)

CACHE_PROVIDER = "cache"  # the ledger's provider of a hit


@dataclass(frozen=True)
class Lookup:
    """A request's place in the cache: `key` None when the cache may not answer or
    keep it; `hit` the stored answer, if any."""

    key: str | None = None
    hit: CachedAnswer | None = None


@dataclass(frozen=True)
class Outcome:
    """How the uncached call ended, read once it has: its status, the usage recorded
    and the model that answered."""

    status: metering_pb2.CallStatus
    usage: common_pb2.Usage | None
    model: str


MISS = Lookup()


class ResponseCache:
    def __init__(
        self,
        store: CacheStore | None,
        settings: CacheSettings,
        record: Callable[[metering_pb2.UsageRecord], None],
    ) -> None:
        self._store = store if settings.enabled else None
        self._fraction = str(settings.hit_price_fraction)
        self._record = record
        self._writes: set[asyncio.Task[None]] = set()

    @classmethod
    def disabled(cls) -> ResponseCache:
        """A cache that never answers nor keeps anything."""
        return cls(None, CacheSettings(), lambda _record: None)

    async def lookup(
        self, request: router_pb2.ChatRequest, served_model: str, body: dict[str, object]
    ) -> Lookup:
        if self._store is None or not cacheable(body, request.cache_mode):
            return MISS
        try:
            key = cache_key(served_model, body)
        except (TypeError, ValueError):  # not JSON-encodable as it stands: never cached
            return MISS
        return Lookup(key, await self._store.get(request.caller.project_id, key))

    async def answer(
        self, request: router_pb2.ChatRequest, hit: CachedAnswer, reference: str = ""
    ) -> AsyncIterator[router_pb2.ChatEvent]:
        """The events of a hit, the usage event last; its record is already put.
        `reference`: the upstream model the asked name would have used (savings are
        priced against it); empty, the cached answer's model."""
        started = request.started_at_unix_ms or now_ms()
        data = replay.fresh(hit.response)
        try:
            self._record(self._hit_record(request, hit, started, reference or hit.model))
        except Exception:
            log.exception("usage of cache hit %s not recorded", request.request_id)
        yield router_pb2.ChatEvent(
            served=router_pb2.Served(
                model=hit.model,
                provider=CACHE_PROVIDER,
                attempts=0,
                cache_hit=True,
                route=request.model,
                cost_fraction=self._fraction,  # what the record bills it at
            )
        )
        if request.stream:
            for chunk in replay.as_chunks(data, request.include_usage):
                yield router_pb2.ChatEvent(chunk=chunk)
        else:
            yield router_pb2.ChatEvent(response=replay.as_response(data))
        yield router_pb2.ChatEvent(usage=hit.usage)

    def _hit_record(
        self, request: router_pb2.ChatRequest, hit: CachedAnswer, started: int, reference: str
    ) -> metering_pb2.UsageRecord:
        return metering_pb2.UsageRecord(
            request_id=request.request_id,
            caller=request.caller,
            model_requested=request.model_asked or request.model,
            model_served=hit.model,
            provider=CACHE_PROVIDER,
            usage=hit.usage,
            usage_source=PROVIDER,
            status=OK,
            http_status=200,
            latency_ms=max(0, now_ms() - started),
            started_at_unix_ms=started,
            stream=request.stream,
            attempts=0,
            cache_hit=True,
            route_reason=common_pb2.ROUTE_REASON_CACHE,
            reference_model=reference,
            compacted_tokens=request.compacted_tokens,
            cost_fraction=self._fraction,
        )

    def keeping(
        self,
        events: AsyncGenerator[router_pb2.ChatEvent, None],
        project_id: str,
        lookup: Lookup,
        outcome: Callable[[], Outcome],
    ) -> AsyncGenerator[router_pb2.ChatEvent, None]:
        """`events`, passed on; once they end, a call that finished well is stored
        under the lookup's key. Closing what this returns closes `events`."""
        if self._store is None or lookup.key is None:
            return events
        return self._keeping(events, project_id, lookup.key, outcome)

    async def _keeping(
        self,
        events: AsyncGenerator[router_pb2.ChatEvent, None],
        project_id: str,
        key: str,
        outcome: Callable[[], Outcome],
    ) -> AsyncGenerator[router_pb2.ChatEvent, None]:
        response: bytes | None = None
        chunks: list[bytes] = []
        failed = False
        try:
            async for event in events:
                kind = event.WhichOneof("event")
                if kind == "response":
                    response = event.response
                elif kind == "chunk":
                    chunks.append(event.chunk)
                elif kind == "error":
                    failed = True
                yield event
        finally:
            await events.aclose()  # a client gone mid-stream: the call still records itself
        ended = outcome()
        if not failed and ended.status == OK and ended.usage is not None:
            self._keep(project_id, key, ended, response, chunks)

    def _keep(
        self, project_id: str, key: str, ended: Outcome, response: bytes | None, chunks: list[bytes]
    ) -> None:
        assert self._store is not None and ended.usage is not None
        try:
            body = response if response is not None else assemble(chunks, ended.usage)
        except (ValueError, TypeError, AttributeError):
            log.warning("a stream of %s could not be assembled for the cache", ended.model)
            return
        if body is None:
            return
        task = asyncio.create_task(
            self._store.put(project_id, key, CachedAnswer(ended.model, body, ended.usage))
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Wait for the writes under way (tests; shutdown)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def aclose(self) -> None:
        await self.flush()
        if self._store is not None:
            await self._store.aclose()
