"""The price catalogue: GET /admin/prices and PUT /admin/prices/{model}, over Budget's
admin RPCs.

A price's currency is never assumed: without one, a new version keeps the model's
current currency, and a model with no price yet must name it (Budget refuses it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, body_of, operator_call, text_field
from services.gateway.validation import bounded_int
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2, budget_pb2_grpc

MAX_INT32 = 2**31 - 1  # prices.max_output_tokens is a 32-bit integer column
FIELDS = ("input", "output", "cached_input", "cache_write_input", "currency", "max_output_tokens")
BATCH_FIELDS = ("batch_input", "batch_output", "batch_cached_input")


def routes(budget: budget_pb2_grpc.BudgetStub) -> list[Route]:
    async def list_prices(request: Request) -> Response:
        listed = await operator_call(budget.ListPrices, budget_pb2.ListPricesRequest())
        return as_json({"data": [as_dict(p) for p in listed.prices]})

    async def put_price(request: Request) -> Response:
        """PUT /admin/prices/{model} {"input", "output", "cached_input"?,
        "cache_write_input"?, "currency"?, "max_output_tokens"?, "batch_input"?,
        "batch_output"?, "batch_cached_input"?}: a new version from now."""
        body = await body_of(request, FIELDS + BATCH_FIELDS)
        wanted = budget_pb2.SetPriceRequest(
            model=request.path_params["model"],
            input=text_field(body, "input", required=True) or "",
            output=text_field(body, "output", required=True) or "",
            cached_input=text_field(body, "cached_input"),
            currency=text_field(body, "currency"),
            max_output_tokens=bounded_int(body, "max_output_tokens", 1, MAX_INT32),
            cache_write_input=text_field(body, "cache_write_input"),
            **{name: text_field(body, name) for name in BATCH_FIELDS},
        )
        return as_json(as_dict(await operator_call(budget.SetPrice, wanted)))

    return [
        Route("/admin/prices", list_prices, methods=["GET"]),
        Route("/admin/prices/{model:path}", put_price, methods=["PUT"]),
    ]
