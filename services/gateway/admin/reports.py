"""Bills, reports and exports, read from Metering's RPCs: GET /admin/projects/{name}/bill,
GET /admin/reports, GET /admin/savings, GET /admin/projects/{name}/whatif, and
GET /admin/calls, which streams a project's per-call records page by page as Metering
sends them (never the whole range in memory). The JSON and CSV are tollgate/reports',
the same the CLI shows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.gateway.admin.common import as_json
from services.gateway.errors import ApiError, bad_request, unavailable
from tollgate.grpcparam import param_of
from tollgate.reports.calls import CallsWriter
from tollgate.reports.levers import savings_json, whatif_json, whatif_maps, whatif_prices
from tollgate.reports.usage import bill_json, report_csv, report_json
from tollgate.v1 import metering_pb2, metering_pb2_grpc

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 30.0
# Metering names the request field at fault; the admin API names its query parameter.
_PARAMS = {
    "from_day": "from",
    "to_day": "to",
    "group_by": "by",
    "model_map": "map",
    "prices": "price",
}
_MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def refusal(error: grpc.RpcError) -> ApiError:
    """Metering's refusal as the admin API answers it."""
    code = error.code()
    details = error.details() or "refused"
    if code == grpc.StatusCode.NOT_FOUND:
        return ApiError(404, details, code="not_found")
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
        param = param_of(error)
        return bad_request(details, param=_PARAMS.get(param, param) or None)
    return unavailable("metering")


async def ask(reply: Any) -> Any:
    """The answer of a Metering call, its refusals as ApiErrors."""
    try:
        return await reply
    except grpc.RpcError as error:
        raise refusal(error) from None


def _format(request: Request) -> str:
    fmt = request.query_params.get("format", "json")
    if fmt not in _MEDIA:
        raise bad_request("'format' must be json or csv.", param="format")
    return fmt


def routes(stub: metering_pb2_grpc.MeteringStub | None) -> list[Route]:
    metering: Any = stub or _Absent()

    async def get_bill(request: Request) -> Response:
        """GET /admin/projects/{name}/bill?month=YYYY-MM"""
        wanted = metering_pb2.BillRequest(
            project=request.path_params["name"], month=request.query_params.get("month", "")
        )
        return as_json(bill_json(await ask(metering.GetBill(wanted, timeout=TIMEOUT_SECONDS))))

    async def get_report(request: Request) -> Response:
        """GET /admin/reports?project=&from=&to=&by=&format=json|csv"""
        params = request.query_params
        fmt = _format(request)
        wanted = metering_pb2.ReportRequest(
            project=params.get("project", ""),
            from_day=params.get("from", ""),
            to_day=params.get("to", ""),
            group_by=params.get("by", "").split(","),
        )
        reply = await ask(metering.GetReport(wanted, timeout=TIMEOUT_SECONDS))
        if fmt == "csv":
            return Response(report_csv(reply), media_type=_MEDIA["csv"])
        return as_json(report_json(reply))

    async def get_savings(request: Request) -> Response:
        """GET /admin/savings?project=&month=: what the levers saved (docs/reports.md)."""
        params = request.query_params
        wanted = metering_pb2.SavingsRequest(
            project=params.get("project", ""), month=params.get("month", "")
        )
        return as_json(
            savings_json(await ask(metering.GetSavings(wanted, timeout=TIMEOUT_SECONDS)))
        )

    async def get_whatif(request: Request) -> Response:
        """GET /admin/projects/{name}/whatif?month=&map=A=B&price=M=IN,OUT&cache_hit_rate="""
        params = request.query_params
        wanted = metering_pb2.WhatIfRequest(
            project=request.path_params["name"],
            month=params.get("month", ""),
            cache_hit_rate=params.get("cache_hit_rate", ""),
        )
        for param, read in (("map", whatif_maps), ("price", whatif_prices)):
            try:
                read(wanted, params.getlist(param))
            except ValueError as exc:
                raise bad_request(str(exc), param=param) from None
        return as_json(whatif_json(await ask(metering.GetWhatIf(wanted, timeout=TIMEOUT_SECONDS))))

    async def get_calls(request: Request) -> Response:
        """GET /admin/calls?project=&from=&to=&format=json|csv: one record a call."""
        params = request.query_params
        fmt = _format(request)
        wanted = metering_pb2.ExportCallsRequest(
            project=params.get("project", ""),
            from_day=params.get("from", ""),
            to_day=params.get("to", ""),
        )
        call = metering.ExportCalls(wanted)
        first = await ask(call.read())  # a refusal comes before the first page
        if first is grpc.aio.EOF:
            first = None
        headers = {}
        if first is not None and fmt == "csv":
            name = f"calls-{first.project}-{first.from_day}-{first.to_day}.csv"
            headers["content-disposition"] = f'attachment; filename="{name}"'
        return StreamingResponse(
            _written(call, first, CallsWriter(fmt)), media_type=_MEDIA[fmt], headers=headers
        )

    return [
        Route("/admin/savings", get_savings, methods=["GET"]),
        Route("/admin/projects/{name}/whatif", get_whatif, methods=["GET"]),
        Route("/admin/reports", get_report, methods=["GET"]),
        Route("/admin/calls", get_calls, methods=["GET"]),
        Route("/admin/projects/{name}/bill", get_bill, methods=["GET"]),
    ]


class _Absent:
    """No Metering to ask (an app built without one): every call is a 503."""

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise unavailable("metering")

        return call


async def _written(
    call: Any, first: metering_pb2.CallsPage | None, writer: CallsWriter
) -> AsyncIterator[str]:
    """The export's text, a page at a time. Should Metering fail mid-stream, the body
    stops short (a JSON array left open, a CSV without its last rows) and it is logged:
    the status line has gone out already."""
    try:
        yield writer.begin()
        page = first
        while page is not None:
            yield writer.page(page)
            read = await call.read()
            page = None if read is grpc.aio.EOF else read
        yield writer.end()
    except grpc.RpcError as error:
        log.warning("call export cut short after %d records: %s", writer.count, error.code())
    finally:
        call.cancel()
