"""What every Responses API call shares, translated or passed through: the checked
request with the stored conversation it continues, and the answer to send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.gateway.chat_body import encode
from services.gateway.context import CallContext
from services.gateway.deps import Deps
from services.gateway.relay import Relay
from services.gateway.responses.request import JSON, Options
from services.gateway.responses.store import ResponseStore, Stored, not_found
from services.gateway.validation import off_loop, parse_json


@dataclass
class Answer:
    """A started call's answer: a whole response object, or a stream of events."""

    headers: dict[str, str]
    json: JSON | None = None
    raw: bytes | None = None  # the response as it came, when passed through
    events: AsyncIterator[bytes] | None = None

    def body(self) -> bytes:
        return self.raw if self.raw is not None else encode(self.json or {})


@dataclass(frozen=True)
class Request:
    """A checked Responses request, and the conversation it continues."""

    body: JSON
    options: Options
    history: Stored | None
    raw: bytes  # the body as the client sent it

    def conversation(self, new_items: list[JSON]) -> list[JSON]:
        return [*(self.history.conversation if self.history else []), *new_items]


async def checked(deps: Deps, ctx: CallContext, raw: bytes) -> Request:
    body = await off_loop(len(raw), parse_json, raw)
    options = Options.of(body)
    history = None
    if options.previous_response_id:
        history = await ResponseStore(deps.responses).get(
            ctx.caller.project_id, options.previous_response_id
        )
        if history is None:
            raise not_found(options.previous_response_id, param="previous_response_id")
    return Request(body, options, history, raw)


def relay_headers(ctx: CallContext, relay: Relay) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, **relay.headers}
    if relay.cache_hit:
        headers["x-tollgate-cache"] = "hit"
    return headers
