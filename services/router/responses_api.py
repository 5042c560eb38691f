"""Which API a chat call speaks, and the provider call that serves it.

A `ChatRequest` with `api = API_RESPONSES` holds an OpenAI Responses API body that
the gateway passes through: it goes to a provider that serves the Responses API
natively (`respond`, `respond_stream`, which the registry's Observed wrapper
forwards), with the same failover, deadline, record and usage as a chat call. The
gateway sends it only for a model whose every candidate's provider serves it
(`native_apis` in ListModels); a deployment that does not (a policy that moved the
call elsewhere) fails the attempt with a 400."""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, Mapping

from services.router.callrecord import Generated
from services.router.providers.base import JSON, ChatCall, Completion, Provider, StreamChunk
from services.router.providers.openai_responses import generated_texts, not_served
from services.router.routing.table import RouteTable
from tollgate.v1 import router_pb2

API_RESPONSES = router_pb2.API_RESPONSES


def native_apis(table: RouteTable, model: str, providers: Mapping[str, Provider]) -> list[str]:
    """The APIs besides chat that every deployment a call to `model` may reach serves."""
    try:
        attempts = table.plan_for(model, {}, random.Random(0))
    except KeyError:
        return []
    common: set[str] | None = None
    for attempt in attempts:
        provider = providers.get(attempt.deployment.provider)
        apis = set(getattr(provider, "apis", ()) or ())
        common = apis if common is None else common & apis
    return sorted(common or ())


async def complete(provider: Provider, call: ChatCall, api: int) -> Completion:
    if api != API_RESPONSES:
        return await provider.complete(call)
    respond = getattr(provider, "respond", None)
    if respond is None:
        raise not_served(provider.name)
    completion: Completion = await respond(call)
    return completion


def stream(provider: Provider, call: ChatCall, api: int) -> AsyncGenerator[StreamChunk, None]:
    if api != API_RESPONSES:
        return provider.stream(call)
    respond_stream = getattr(provider, "respond_stream", None)
    if respond_stream is None:
        return _refuse(provider.name)
    events: AsyncGenerator[StreamChunk, None] = respond_stream(call)
    return events


async def _refuse(name: str) -> AsyncGenerator[StreamChunk, None]:
    raise not_served(name)
    yield  # pragma: no cover  (a generator that raises when first iterated)


def count_generated(generated: Generated, data: JSON, api: int, key: str) -> None:
    """Keep the text of a response or chunk, for counting if no usage comes."""
    if api == API_RESPONSES:
        generated.parts.extend(generated_texts(data))
    else:
        generated.add_choices(data, key)
