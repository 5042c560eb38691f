"""Metering's stand-in for the CLI against a remote gateway (`--url`, see remote.py):
the RPCs of bill, report, report savings, report whatif and calls, sent to the
gateway's /admin routes, their replies rebuilt from the JSON that tollgate/reports
makes of them (so each command prints what it prints over gRPC)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.message import Message

from tollgate.cli.remote import Target, _exit, _part, from_dict, send
from tollgate.v1 import common_pb2, metering_pb2

CALLS_PAGE = 500  # records a rebuilt page of an export holds


def _money(amount: str, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


def forecast_of(shown: dict[str, Any]) -> metering_pb2.Forecast:
    """The inverse of tollgate/reports' forecast_json."""
    currency, window = shown["currency"], shown["window"]
    return metering_pb2.Forecast(
        month=shown["month"],
        as_of=shown["as_of"],
        spent=_money(shown["spent"], currency),
        daily_average=_money(shown["daily_average"], currency),
        window_from=window["from"] or "",
        window_to=window["to"] or "",
        window_days=window["days"],
        days_left=shown["days_left"],
        forecast=_money(shown["forecast"], currency),
    )


def bill_of(shown: dict[str, Any]) -> metering_pb2.UsageReport:
    """The inverse of tollgate/reports' bill_json."""
    currency = shown["currency"]
    bill = metering_pb2.UsageReport(
        project=shown["project"],
        project_id=shown["project_id"],
        period=shown["period"],
        currency=currency,
        total=_money(shown["total"], currency),
        saved=_money(shown["saved"], currency),
        **{k: shown[k] for k in ("requests", "input_tokens", "output_tokens", "cached_tokens")},
        cache_hits=shown["cache_hits"],
    )
    for line in shown["by_model"]:
        bill.by_model.add(
            total=_money(line["total"], currency),
            **{k: v for k, v in line.items() if k != "total"},
        )
    if shown["forecast"] is not None:
        bill.forecast.CopyFrom(forecast_of(shown["forecast"]))
    return bill


def _amounts(row: dict[str, Any]) -> dict[str, Any]:
    """A report row's fields as ReportLine/ReportTotal take them (total as Money)."""
    plain = {k: v for k, v in row.items() if k not in ("currency", "total")}
    return {**plain, "total": _money(row["total"], row["currency"])}


def report_of(shown: dict[str, Any]) -> metering_pb2.ReportResponse:
    """The inverse of tollgate/reports' report_json."""
    report = metering_pb2.ReportResponse(
        from_day=shown["from"],
        to_day=shown["to"],
        group_by=shown["by"],
        project_id=shown["project_id"] or "",
        project=shown["project"] or "",
    )
    for line in shown["lines"]:
        report.lines.add(**_amounts(line))
    for total in shown["totals"]:
        report.totals.add(**_amounts(total))
    if shown["forecast"] is not None:
        report.forecast.CopyFrom(forecast_of(shown["forecast"]))
    return report


def _sums(row: dict[str, Any]) -> dict[str, Any]:
    """A savings row's fields as SavingsLine/SavingsTotal take them (amounts as Money)."""
    currency = row["currency"]
    amounts = ("cost", "reference", "saved")
    plain = {k: v for k, v in row.items() if k != "currency" and k not in amounts}
    return plain | {k: _money(row[k], currency) for k in amounts}


def savings_of(shown: dict[str, Any]) -> metering_pb2.SavingsResponse:
    """The inverse of tollgate/reports' savings_json."""
    savings = metering_pb2.SavingsResponse(month=shown["month"])
    for line in shown["lines"]:
        savings.lines.add(**_sums(line))
    for total in shown["totals"]:
        savings.totals.add(**_sums(total))
    return savings


def whatif_of(shown: dict[str, Any]) -> metering_pb2.WhatIfResponse:
    """The inverse of tollgate/reports' whatif_json."""
    currency = shown["currency"]
    whatif = metering_pb2.WhatIfResponse(
        project=shown["project"],
        project_id=shown["project_id"],
        month=shown["month"],
        currency=currency,
        actual=_money(shown["actual"], currency),
        what_if=_money(shown["what_if"], currency),
        difference=shown["difference"],
    )
    for line in shown["lines"]:
        amounts = {k: _money(line[k], currency) for k in ("actual", "what_if")}
        whatif.lines.add(**(line | amounts))
    return whatif


def call_of(shown: dict[str, Any]) -> metering_pb2.CallRecord:
    """The inverse of tollgate/reports' call_json (an empty enum name: unset)."""
    currency = shown["currency"]
    enums = {name: shown[name] or None for name in ("status", "usage_source")}
    amounts = {k: {"amount": shown[k], "currency": currency} for k in ("cost", "saved")}
    record = from_dict(metering_pb2.CallRecord(), shown | enums | amounts | {"route_reason": None})
    # Its first value is ROUTE_REASON_ASKED, not ..._UNSPECIFIED: named as call_json does.
    reason = "ROUTE_REASON_" + shown["route_reason"].upper()
    record.route_reason = common_pb2.RouteReason.Value(reason)  # type: ignore[attr-defined]
    return record  # type: ignore[return-value]


def calls_pages(
    request: metering_pb2.ExportCallsRequest, calls: list[dict[str, Any]]
) -> Iterator[metering_pb2.CallsPage]:
    """The exported calls as ExportCalls's pages; the first page may be empty."""
    for start in range(0, max(len(calls), 1), CALLS_PAGE):
        page = metering_pb2.CallsPage(
            project=request.project, from_day=request.from_day, to_day=request.to_day
        )
        page.calls.extend(call_of(call) for call in calls[start : start + CALLS_PAGE])
        yield page


class RemoteMetering:
    """Metering's RPCs the CLI's bill, report and calls use, over the gateway's /admin
    routes."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def GetBill(self, request: metering_pb2.BillRequest, **_: Any) -> Message:
        params = {"month": request.month} if request.month else None
        path = f"/admin/projects/{_part(request.project)}/bill"
        return bill_of(send(self.target, "GET", path, params=params))

    def GetReport(self, request: metering_pb2.ReportRequest, **_: Any) -> Message:
        wanted = {
            "project": request.project,
            "from": request.from_day,
            "to": request.to_day,
            "by": ",".join(request.group_by),
        }
        params = {name: value for name, value in wanted.items() if value}
        return report_of(send(self.target, "GET", "/admin/reports", params=params))

    def GetSavings(self, request: metering_pb2.SavingsRequest, **_: Any) -> Message:
        wanted = {"project": request.project, "month": request.month}
        params = {name: value for name, value in wanted.items() if value}
        return savings_of(send(self.target, "GET", "/admin/savings", params=params))

    def GetWhatIf(self, request: metering_pb2.WhatIfRequest, **_: Any) -> Message:
        prices = [
            f"{model}={p.input},{p.output}" + (f",{p.cached_input}" if p.cached_input else "")
            for model, p in request.prices.items()
        ]
        wanted: dict[str, Any] = {
            "month": request.month,
            "cache_hit_rate": request.cache_hit_rate,
            "map": [f"{asked}={target}" for asked, target in request.model_map.items()],
            "price": prices,
        }
        params = {name: value for name, value in wanted.items() if value}
        path = f"/admin/projects/{_part(request.project)}/whatif"
        return whatif_of(send(self.target, "GET", path, params=params))

    def ExportCalls(
        self, request: metering_pb2.ExportCallsRequest, **_: Any
    ) -> Iterator[metering_pb2.CallsPage]:
        """The export's JSON, read whole, handed back a page at a time; a refusal is
        raised here, before the first page, as over gRPC."""
        wanted = {"project": request.project, "from": request.from_day, "to": request.to_day}
        params = {name: value for name, value in wanted.items() if value}
        calls = send(self.target, "GET", "/admin/calls", params=params | {"format": "json"})
        return calls_pages(request, calls)

    def __getattr__(self, name: str) -> Any:
        _exit(f"Metering's {name} has no admin route: it does not run with --url")
