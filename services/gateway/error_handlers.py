"""How the app answers what its routes did not: every error in OpenAI's error JSON,
never a traceback (the Anthropic front door answers its own in Anthropic's)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.errors import ApiError
from services.gateway.request_id import request_id_of

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]


def openai_errors(handler: Handler) -> Handler:
    """Answer ApiErrors in OpenAI's format; never let a traceback reach the client."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    return wrapped


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"Unknown request URL: {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed for {request.url.path}."
    else:
        message = str(exc.detail)
    return ApiError(exc.status_code, message, headers=exc.headers).response()


async def api_error(request: Request, exc: Exception) -> Response:
    # An ApiError from outside the routes' own handling (a body read timing out
    # in an admin route, say) is still answered as itself.
    assert isinstance(exc, ApiError)
    return exc.response()


async def server_error(request: Request, exc: Exception) -> Response:
    # Answered outside every middleware (Starlette's ServerErrorMiddleware), so the
    # request id headers are set here.
    request_id = request_id_of(request)
    log.exception("unhandled error on %s (%s)", request.url.path, request_id, exc_info=exc)
    return ApiError(
        500, "tollgate hit an internal error; it has been logged.", type="server_error"
    ).response(request_id)


EXCEPTION_HANDLERS = {
    HTTPException: http_error,
    ApiError: api_error,
    Exception: server_error,
}
