"""Per-call records (Metering's ExportCalls pages) as CSV or as one JSON array, written
as the pages come: `CallsWriter.page` turns a page into text at once, so neither the
CLI nor the admin API ever holds more than a page."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tollgate.v1 import common_pb2, metering_pb2

COLUMNS = (
    "started_at",
    "request_id",
    "key_id",
    "end_user",
    "model_requested",
    "model_served",
    "provider",
    "deployment",
    "status",
    "http_status",
    "stream",
    "latency_ms",
    "usage_source",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "currency",
    "cost",
    "saved",
    "cache_hit",
    "route_reason",
    "attempts",
    "compacted_tokens",
    "batch_id",
)
FORMATS = ("csv", "json")


def _name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower() if value else ""


def call_json(call: metering_pb2.CallRecord) -> dict[str, Any]:
    """One call as a flat object: amounts exact decimal strings, enums by name."""
    plain = {name: getattr(call, name) for name in COLUMNS if hasattr(call, name)}
    return plain | {
        "status": _name(metering_pb2.CallStatus, call.status, "CALL_STATUS_"),
        "usage_source": _name(common_pb2.UsageSource, call.usage_source, "USAGE_SOURCE_"),
        "route_reason": common_pb2.RouteReason.Name(call.route_reason)
        .removeprefix("ROUTE_REASON_")
        .lower(),
        "currency": call.cost.currency,
        "cost": call.cost.amount,
        "saved": call.saved.amount,
    }


class CallsWriter:
    """`begin()`, then `page(p)` for each page, then `end()`: the export's text."""

    def __init__(self, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self.count = 0

    def begin(self) -> str:
        return _csv_row(COLUMNS) if self.fmt == "csv" else "["

    def page(self, page: metering_pb2.CallsPage) -> str:
        parts = []
        for call in page.calls:
            shown = call_json(call)
            if self.fmt == "csv":
                parts.append(_csv_row([_cell(shown[name]) for name in COLUMNS]))
            else:
                parts.append(("\n" if not self.count else ",\n") + json.dumps(shown))
            self.count += 1
        return "".join(parts)

    def end(self) -> str:
        return "" if self.fmt == "csv" else ("\n]\n" if self.count else "]\n")


def _cell(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


def _csv_row(values: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
