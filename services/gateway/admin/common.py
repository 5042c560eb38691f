"""What every admin route shares: the token check, JSON in and out, and 400s that name
the field at fault."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.gateway.errors import ApiError, bad_request
from services.gateway.validation import parse_json
from tollgate import admin
from tollgate.money import MoneyError

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")


def guarded(handler: Handler, token: str) -> Handler:
    """Only callers with the admin token reach `handler`; operator mistakes become
    OpenAI-format 4xx answers, never a 500."""

    async def wrapped(request: Request) -> Response:
        try:
            if not token:
                raise ApiError(404, "The admin API is off: set TOLLGATE_ADMIN_TOKEN.")
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.encode()
            ):
                raise ApiError(401, "A valid admin token is required.", code="invalid_api_key")
            return await handler(request)
        except admin.NotFound as exc:
            return ApiError(404, str(exc), code="not_found").response()
        except (admin.AdminError, MoneyError, ValueError) as exc:
            return bad_request(str(exc)).response()
        except ApiError as exc:
            return exc.response()

    return wrapped


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


async def body_of(request: Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    return parse_json(raw)


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
    return str(value)


def checked(param: str, check: Callable[..., T], *args: Any) -> T:
    """`check(*args)`, its ValueError answered as a 400 naming `param`."""
    try:
        return check(*args)
    except admin.NotFound:
        raise
    except ValueError as exc:
        raise bad_request(f"'{param}': {exc}", param=param) from None
