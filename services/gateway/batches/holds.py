"""A batch's money before it is accepted: every line's worst case reserved with Budget
(`Authorize`, one call per line under the line's own request id, tagged with the batch
and held for its window). If Budget refuses any line, every hold already made is
released and the whole batch is refused with the error a direct call would get (a
429 `budget_exceeded` past a hard budget), so a refused batch leaves no holds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence

from services.gateway.batches.lines import Line, hold_of
from services.gateway.context import CallContext
from services.gateway.deps import Deps
from services.gateway.errors import ApiError, unavailable
from services.gateway.reserve import authorize, release
from tollgate.config import Route

# Authorize calls in flight at once for one batch.
PARALLEL = 16


def line_request_id(batch_id: str, line: Line) -> str:
    return f"{batch_id}-{line.number}"


async def reserve_lines(
    deps: Deps,
    ctx: CallContext,
    lines: Sequence[Line],
    routes: Mapping[str, Route | None],
    batch_id: str,
    hold_seconds: int,
) -> None:
    """Hold every line, or none: an ApiError (the first refusal) after releasing all."""
    held: list[str] = []
    refusal: BaseException | None = None

    async def one(line: Line) -> None:
        route = routes[line.model]
        assert route is not None
        request_id = line_request_id(batch_id, line)
        line_ctx = dataclasses.replace(ctx, request_id=request_id)
        await authorize(deps, line_ctx, hold_of(line, route, batch_id, hold_seconds))
        held.append(request_id)

    try:
        for start in range(0, len(lines), PARALLEL):
            results = await asyncio.gather(
                *(one(line) for line in lines[start : start + PARALLEL]), return_exceptions=True
            )
            refusal = next((r for r in results if isinstance(r, BaseException)), None)
            if refusal is not None:
                break
    except BaseException:
        await release_all(deps, held)
        raise
    if refusal is not None:
        await release_all(deps, held)
        if isinstance(refusal, ApiError):
            raise refusal
        raise unavailable("budget") from refusal


async def release_all(deps: Deps, request_ids: Sequence[str]) -> None:
    for start in range(0, len(request_ids), PARALLEL):
        await asyncio.gather(*(release(deps, rid) for rid in request_ids[start : start + PARALLEL]))
