"""What every admin route shares: the token check, JSON in and out, 400s that name
the field at fault, and the call to Budget's admin RPCs (`operator_call`), whose
refusals become the same OpenAI-format errors. A route that takes a body reads it
with `body_of`, naming the fields it knows: any other field is refused, so a typo or
a field this version does not know (say, a currency a route ignores) never passes
silently."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.gateway.errors import ApiError, bad_request, unavailable
from services.gateway.validation import parse_json, text

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")
R = TypeVar("R")
# Budget's trailing metadata naming the field an INVALID_ARGUMENT is about.
PARAM_KEY = "tollgate-param"
RPC_SECONDS = 30.0


def guarded(handler: Handler, token: str) -> Handler:
    """Only callers with the admin token reach `handler`; its ApiErrors become
    OpenAI-format answers."""

    async def wrapped(request: Request) -> Response:
        try:
            if not token:
                raise ApiError(404, "The admin API is off: set TOLLGATE_ADMIN_TOKEN.")
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if not (scheme.lower() == "bearer" and same_secret(given.strip(), token)):
                raise ApiError(401, "A valid admin token is required.", code="invalid_api_key")
            check_params(request)
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        # A route that still checks input in the gateway (the reports) raises these.
        except LookupError as exc:
            return ApiError(404, str(exc), code="not_found").response()
        except ValueError as exc:
            return bad_request(str(exc)).response()

    return wrapped


def same_secret(given: str, expected: str) -> bool:
    """Whether `given` is `expected`, in time that depends on neither: both are hashed
    first, so not even the token's length shows in the time a wrong guess takes."""
    return hmac.compare_digest(_digest(given), _digest(expected))


def _digest(text: str) -> bytes:
    # surrogateescape: a token from an environment that is not UTF-8 holds surrogates.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def check_params(request: Request) -> None:
    """Path and query values are names, ids, days and amounts: a 400 for one that no
    column could hold (too long, a NUL, a lone surrogate), before any look-up."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        text(value, name)


def as_json(value: Any, status: int = 200) -> JSONResponse:
    def plain(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        if isinstance(item, dict):
            return {k: plain(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [plain(v) for v in item]
        return item

    return JSONResponse(plain(value), status_code=status)


async def body_of(
    request: Request, fields: Iterable[str], *, optional: bool = False
) -> dict[str, Any]:
    """The request's JSON object, holding none but `fields` (else a 400 naming the first
    unknown one). `optional`: an empty body is an empty object."""
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    body = parse_json(raw)
    only_fields(body, fields)
    return body


def only_fields(body: dict[str, Any], known: Iterable[str]) -> None:
    """A 400 for a field this route does not know (a typo must not pass silently)."""
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise bad_request(f"Unknown field '{unknown[0]}'.", param=unknown[0])


def text_field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string (or a whole number: amounts may come as 5, decimals must be strings)."""
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"'{name}' is required.", param=name)
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise bad_request(f"'{name}' must be a string (decimals as strings).", param=name)
    return text(str(value), name)  # at most a column's 200 characters, no NUL


def json_value(value: object) -> struct_pb2.Value:
    """A value of a JSON body as the google.protobuf.Value an admin RPC takes."""
    return json_format.ParseDict(value, struct_pb2.Value())


def checked(param: str, check: Callable[..., T], *args: Any) -> T:
    """`check(*args)`, its ValueError answered as a 400 naming `param`."""
    try:
        return check(*args)
    except ValueError as exc:
        raise bad_request(f"'{param}': {exc}", param=param) from None


def _param(error: grpc.RpcError) -> str | None:
    trailing = error.trailing_metadata() if isinstance(error, grpc.Call) else None
    for key, value in trailing or ():
        if key == PARAM_KEY and isinstance(value, str):
            return value
    return None


def refusal(error: grpc.RpcError, service: str = "budget") -> ApiError:
    """The OpenAI-format answer to an admin RPC's refusal: 404 for NOT_FOUND, 400
    naming the field for INVALID_ARGUMENT and ALREADY_EXISTS, 503 when the service
    cannot be reached."""
    code = error.code() if isinstance(error, grpc.Call) else None
    message = (error.details() if isinstance(error, grpc.Call) else None) or str(code)
    if code == grpc.StatusCode.NOT_FOUND:
        return ApiError(404, message, code="not_found")
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS):
        return bad_request(message, param=_param(error))
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return unavailable(service)
    return ApiError(502, f"tollgate's {service} service failed: {message}", type="server_error")


class Unreachable:
    """Stands in for a stub the admin routes were not given: every call is a 503."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __getattr__(self, name: str) -> Any:
        raise unavailable(self.service)


async def operator_call(method: Callable[..., R], request: Any) -> R:
    """`method(request)` of a (blocking) admin stub, off the event loop; a refusal is
    raised as its ApiError."""
    try:
        return await asyncio.to_thread(method, request, timeout=RPC_SECONDS)
    except grpc.RpcError as exc:
        raise refusal(exc) from None
