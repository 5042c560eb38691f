"""The one way every route authenticates: key, failure throttle, pause, request rate.

    admitted = await gate.admit(request)                 # a call: chat, embeddings,
                                                         # messages, count_tokens
    admitted = await gate.admit(request, calling=False)  # a read: models, usage

All of it runs before the body is read or counted, so a caller who may not call
costs the gateway next to nothing: an unknown key is answered from the cache (or
throttled per client address), a paused key gets its 403 and a caller whose
request rate or concurrency limit is full gets its 429 without a token counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from starlette.requests import Request

from services.gateway.auth import KeyCache, paused, secret_from
from services.gateway.caller import Caller
from services.gateway.errors import ApiError
from services.gateway.observe import note_caller
from services.gateway.ratelimit import Limiter
from services.gateway.throttle import FailureThrottle


class Admitted(NamedTuple):
    caller: Caller
    secret: str


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass
class Gate:
    keys: KeyCache
    limits: Limiter = field(default_factory=Limiter.unlimited)
    throttle: FailureThrottle = field(default_factory=FailureThrottle)

    async def admit(self, request: Request, *, calling: bool = True) -> Admitted:
        """The caller of a request; an ApiError (401, 403, 429) when it may not go on.
        `calling`: the route calls a model (or counts for one), so a paused key and a
        full request-rate or concurrency limit refuse it too."""
        secret = secret_from(request)
        address = client_address(request)
        if not isinstance(self.keys.cached(secret), Caller):
            self.throttle.check(address)  # a lookup, or a known failure: throttled
        try:
            caller = await self.keys.resolve(secret)
        except ApiError:
            self.throttle.failed(address)
            raise
        note_caller(caller)
        if calling:
            if caller.paused_at is not None:
                raise paused(caller)
            await self.limits.admit(caller)
        return Admitted(caller, secret)
