"""POST /v1/messages/count_tokens: Anthropic's token count, as tollgate estimates it.

The figure is the one a call's budget hold is made of (tollgate's tokenizer count of
the translated request), not the provider's own count; nothing is called upstream
and nothing is billed. Errors are in Anthropic's format, as on /v1/messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.gateway.anthropic_format import openai_request
from services.gateway.anthropic_reply import JSON, error_response
from services.gateway.context import Started, traced
from services.gateway.deps import Deps
from services.gateway.errors import ApiError, unknown_model
from services.gateway.validation import off_loop, parse_json, read_body
from tollgate import tokens


def _for_counting(given: bytes) -> JSON:
    return openai_request(parse_json(given), for_counting=True)


def count_tokens_handler(deps: Deps) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request, started: Started) -> Response:
        request_id = started.request_id
        try:
            await deps.gate.admit(request)
            given = await read_body(request)
            translated = await off_loop(len(given), _for_counting, given)
            route = await deps.models.get(translated["model"])
            if route is None:
                raise unknown_model(translated["model"])
            count = await off_loop(
                len(given),
                tokens.count_chat_prompt,
                translated["messages"],
                route.served_model,
                translated.get("tools"),
                gil=False,
            )
        except ApiError as exc:
            return error_response(exc, request_id)
        return JSONResponse(
            {"input_tokens": count}, headers={"request-id": request_id, "x-request-id": request_id}
        )

    return traced("POST /v1/messages/count_tokens", handle)
