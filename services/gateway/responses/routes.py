"""The Responses API's HTTP routes, each answering errors in OpenAI's format with the
call's `x-request-id`:

    POST   /v1/responses                        create (create.py)
    GET    /v1/responses/{id}                   a stored response, as the client got it
    DELETE /v1/responses/{id}                   forget it
    GET    /v1/responses/{id}/input_items       the conversation it answered

A stored response is found only with a key of the project that created it; any
other id (another project's, an expired or unknown one) is a 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.gateway.cache_header import requested_cache_mode
from services.gateway.context import CallContext, Started, traced
from services.gateway.deps import Deps
from services.gateway.errors import ApiError, bad_request
from services.gateway.policy import requested
from services.gateway.relay import SSE_HEADERS
from services.gateway.responses.create import create_response
from services.gateway.responses.request import JSON
from services.gateway.responses.store import ResponseStore, Stored, not_found
from services.gateway.validation import read_body, whole_number

Handler = Callable[[Request], Awaitable[Response]]
MAX_LIST = 100
DEFAULT_LIST = 20


def _answering(name: str, handle: Callable[[Request, Started], Awaitable[Response]]) -> Handler:
    """`handle` in its span, its ApiErrors in OpenAI's format with the request id."""

    async def run(request: Request, started: Started) -> Response:
        try:
            return await handle(request, started)
        except ApiError as exc:
            return exc.response(started.request_id)

    return traced(name, run)


def create_handler(deps: Deps) -> Handler:
    async def handle(request: Request, started: Started) -> Response:
        admitted = await deps.gate.admit(request)
        ctx = CallContext.admitted(
            started, admitted, cache_mode=requested_cache_mode(request), wish=requested(request)
        )
        raw = await read_body(request)
        answer = await create_response(deps, ctx, raw)
        if answer.events is not None:
            return StreamingResponse(
                answer.events,
                media_type="text/event-stream",
                headers={**answer.headers, **SSE_HEADERS},
            )
        return Response(answer.body(), media_type="application/json", headers=answer.headers)

    return _answering("POST /v1/responses", handle)


async def _stored(deps: Deps, request: Request) -> tuple[str, str, Stored | None]:
    admitted = await deps.gate.admit(request, calling=False)
    response_id = request.path_params["response_id"]
    project_id = admitted.caller.project_id
    return project_id, response_id, await ResponseStore(deps.responses).get(project_id, response_id)


def get_handler(deps: Deps) -> Handler:
    async def handle(request: Request, started: Started) -> Response:
        _, response_id, stored = await _stored(deps, request)
        if stored is None:
            raise not_found(response_id)
        return JSONResponse(stored.response, headers={"x-request-id": started.request_id})

    return _answering("GET /v1/responses/{response_id}", handle)


def delete_handler(deps: Deps) -> Handler:
    async def handle(request: Request, started: Started) -> Response:
        admitted = await deps.gate.admit(request, calling=False)
        response_id = request.path_params["response_id"]
        store = ResponseStore(deps.responses)
        if not await store.delete(admitted.caller.project_id, response_id):
            raise not_found(response_id)
        body = {"id": response_id, "object": "response.deleted", "deleted": True}
        return JSONResponse(body, headers={"x-request-id": started.request_id})

    return _answering("DELETE /v1/responses/{response_id}", handle)


def _with_ids(stored: Stored) -> list[JSON]:
    """The conversation's items, each with an id (given, or one made from the response's)."""
    stem = stored.response_id.removeprefix("resp_")[:40]
    listed = []
    for i, item in enumerate(stored.input_items):
        shown = dict(item)
        if not isinstance(shown.get("id"), str):
            shown["id"] = f"msg_{stem}_in{i}"
        if shown.get("type", "message") == "message":
            shown["type"] = "message"
            if isinstance(shown.get("content"), str):
                kind = "output_text" if shown.get("role") == "assistant" else "input_text"
                shown["content"] = [{"type": kind, "text": shown["content"]}]
        listed.append(shown)
    return listed


def _limit(request: Request) -> int:
    return whole_number(request.query_params.get("limit", str(DEFAULT_LIST)), "limit", 1, MAX_LIST)


def input_items_handler(deps: Deps) -> Handler:
    async def handle(request: Request, started: Started) -> Response:
        _, response_id, stored = await _stored(deps, request)
        if stored is None:
            raise not_found(response_id)
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise bad_request("'order' must be 'asc' or 'desc'.", param="order")
        listed = _with_ids(stored)
        if order == "desc":
            listed.reverse()
        after = request.query_params.get("after")
        if after:
            ids = [item["id"] for item in listed]
            listed = listed[ids.index(after) + 1 :] if after in ids else []
        limit = _limit(request)
        page = listed[:limit]
        body = {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(listed) > limit,
        }
        return JSONResponse(body, headers={"x-request-id": started.request_id})

    return _answering("GET /v1/responses/{response_id}/input_items", handle)


def responses_routes(deps: Deps) -> list[Route]:
    return [
        Route("/v1/responses", create_handler(deps), methods=["POST"]),
        Route("/v1/responses/{response_id}", get_handler(deps), methods=["GET"]),
        Route("/v1/responses/{response_id}", delete_handler(deps), methods=["DELETE"]),
        Route(
            "/v1/responses/{response_id}/input_items", input_items_handler(deps), methods=["GET"]
        ),
    ]
