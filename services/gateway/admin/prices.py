"""The price catalogue: GET /admin/prices and PUT /admin/prices/{model}."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.budget.prices import PriceInput, current_prices, describe, set_price
from services.gateway.admin.common import as_json, body_of, text_field
from services.gateway.errors import bad_request


def routes(engine: Engine) -> list[Route]:
    async def list_prices(request: Request) -> Response:
        def read() -> list[dict[str, str | int]]:
            with engine.connect() as conn:
                return [describe(p) for p in current_prices(conn)]

        return as_json({"data": await asyncio.to_thread(read)})

    async def put_price(request: Request) -> Response:
        """PUT /admin/prices/{model} {"input", "output", "cached_input"?,
        "cache_write_input"?, "currency"?, "max_output_tokens"?}: a new version from now."""
        body = await body_of(request)
        max_output = body.get("max_output_tokens")
        if max_output is not None and (
            isinstance(max_output, bool) or not isinstance(max_output, int)
        ):
            raise bad_request("'max_output_tokens' must be an integer.", param="max_output_tokens")
        wanted = PriceInput(
            model=request.path_params["model"],
            input=text_field(body, "input", required=True) or "",
            output=text_field(body, "output", required=True) or "",
            cached_input=text_field(body, "cached_input"),
            currency=text_field(body, "currency") or "USD",
            max_output_tokens=max_output,
            cache_write_input=text_field(body, "cache_write_input"),
        )

        def write() -> dict[str, str | int]:
            with engine.begin() as conn:
                return describe(set_price(conn, wanted))

        return as_json(await asyncio.to_thread(write))

    return [
        Route("/admin/prices", list_prices, methods=["GET"]),
        Route("/admin/prices/{model:path}", put_price, methods=["PUT"]),
    ]
