"""Cost allocation: Metering's AllocateResponse as JSON and CSV."""

from __future__ import annotations

from typing import Any

from tollgate.reports.usage import csv_text
from tollgate.v1 import metering_pb2

COLUMNS = ["project", "metered", "metered_currency", "share", "currency"]


def allocation_json(reply: metering_pb2.AllocateResponse) -> dict[str, Any]:
    return {
        "object": "allocation",
        "total": reply.total.amount,
        "currency": reply.total.currency,
        "from": reply.from_day,
        "to": reply.to_day,
        "shares": [
            {
                "project": share.project,
                "metered": share.metered.amount,
                "metered_currency": share.metered.currency,
                "share": share.share.amount,
                "currency": share.share.currency,
            }
            for share in reply.shares
        ],
    }


def allocation_csv(reply: metering_pb2.AllocateResponse) -> str:
    shares = allocation_json(reply)["shares"]
    return csv_text(COLUMNS, ([share[name] for name in COLUMNS] for share in shares))
