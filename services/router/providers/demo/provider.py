"""The demo provider: the demo model served in-process, no network, deterministic answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from services.router.providers.base import (
    INVALID_REQUEST,
    ChatCall,
    Completion,
    EmbedCall,
    Embeddings,
    StreamChunk,
    UpstreamError,
    usage_from,
)
from services.router.providers.demo import model as demo
from services.router.providers.demo import vectors
from tollgate.config import ProviderConfig


class DemoProvider:
    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name

    async def complete(self, call: ChatCall) -> Completion:
        data = demo.completion(call.body, call.served_model)
        return Completion(body=demo.dumps(data), data=data, usage=usage_from(data))

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        for chunk in demo.chunks(call.body, call.served_model, include_usage=True):
            yield StreamChunk(raw=demo.dumps(chunk), data=chunk, usage=usage_from(chunk))
            await asyncio.sleep(0)  # let a cancelled client stop the stream between tokens

    async def embed(self, call: EmbedCall) -> Embeddings:
        refusal = vectors.refusal(call.body)
        if refusal is not None:
            param, message = refusal
            raise UpstreamError(400, INVALID_REQUEST, "invalid_value", message, param)
        data = vectors.answer(call.body, call.served_model)
        return Embeddings(body=demo.dumps(data), usage=usage_from(data))

    async def aclose(self) -> None:
        return None
