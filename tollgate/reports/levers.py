"""Savings and what-if: Metering's answers as JSON, and the operator's what-if options
(`--map A=B`, `--price M=IN,OUT[,CACHED]`) read into a request."""

from __future__ import annotations

from typing import Any

from tollgate.v1 import metering_pb2


def _sums_json(item: metering_pb2.SavingsLine | metering_pb2.SavingsTotal) -> dict[str, Any]:
    return {
        "currency": item.cost.currency,
        "requests": item.requests,
        "cost": item.cost.amount,
        "reference": item.reference.amount,
        "saved": item.saved.amount,
        "compacted_tokens": item.compacted_tokens,
    }


def savings_json(reply: metering_pb2.SavingsResponse) -> dict[str, Any]:
    return {
        "object": "savings.report",
        "month": reply.month,
        "lines": [
            {"project_id": line.project_id, "project": line.project, "lever": line.lever}
            | _sums_json(line)
            for line in reply.lines
        ],
        "totals": [{"cache_hits": t.cache_hits} | _sums_json(t) for t in reply.totals],
    }


def whatif_json(reply: metering_pb2.WhatIfResponse) -> dict[str, Any]:
    return {
        "object": "whatif.report",
        "project": reply.project,
        "project_id": reply.project_id,
        "month": reply.month,
        "currency": reply.currency,
        "lines": [
            {
                "model": line.model,
                "priced_as": line.priced_as,
                "requests": line.requests,
                "input_tokens": line.input_tokens,
                "output_tokens": line.output_tokens,
                "cached_tokens": line.cached_tokens,
                "cache_write_tokens": line.cache_write_tokens,
                "actual": line.actual.amount,
                "what_if": line.what_if.amount,
            }
            for line in reply.lines
        ],
        "actual": reply.actual.amount,
        "what_if": reply.what_if.amount,
        "difference": reply.difference,
    }


def whatif_maps(request: metering_pb2.WhatIfRequest, maps: list[str]) -> None:
    """Maps "gpt-4o=gpt-4o-mini" (each may hold several, comma-separated) into the
    request; ValueError names the option at fault."""
    for item in (part.strip() for text in maps for part in text.split(",")):
        asked, sep, target = item.partition("=")
        if not item or not sep or not asked.strip() or not target.strip():
            raise ValueError(f"map: {item!r} is not MODEL=MODEL, e.g. gpt-4o=gpt-4o-mini")
        request.model_map[asked.strip()] = target.strip()


def whatif_prices(request: metering_pb2.WhatIfRequest, prices: list[str]) -> None:
    """Prices "MODEL=IN,OUT[,CACHED]" per million tokens, in the project's currency,
    into the request (Metering checks the amounts); ValueError names the option."""
    for text in prices:
        model, sep, amounts = text.partition("=")
        parts = [part.strip() for part in amounts.split(",")]
        if not sep or not model.strip() or len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"price: {text!r} is not MODEL=INPUT,OUTPUT[,CACHED_INPUT]")
        cached = parts[2] if len(parts) == 3 else ""
        override = metering_pb2.PriceOverride(input=parts[0], output=parts[1], cached_input=cached)
        request.prices[model.strip()].CopyFrom(override)


def whatif_request(
    project: str, month: str, maps: list[str], prices: list[str], cache_hit_rate: str
) -> metering_pb2.WhatIfRequest:
    """A what-if request from an operator's text, for a project named by name or id."""
    request = metering_pb2.WhatIfRequest(
        project=project, month=month, cache_hit_rate=cache_hit_rate
    )
    whatif_maps(request, maps)
    whatif_prices(request, prices)
    return request
