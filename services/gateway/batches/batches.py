"""/v1/batches: create, retrieve, list, cancel (OpenAI's Batch API).

Create reads the input file from the router, checks every line (lines.py), holds
every line's worst case with Budget (holds.py) and only then hands the batch to the
router, which runs it in the background. A file with a bad line gives a batch that
failed validation, with its errors, as OpenAI answers; a batch Budget refuses is a
4xx, and leaves no holds."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.gateway.batches.deps import BatchDeps
from services.gateway.batches.holds import line_request_id, release_all, reserve_lines
from services.gateway.batches.lines import ENDPOINTS, Checked, parse_lines, price_lines
from services.gateway.batches.wire import batch_json, page, rpc_error
from services.gateway.context import CallContext, Started, traced
from services.gateway.errors import bad_request
from services.gateway.steering import policy_rules
from services.gateway.validation import parse_json, read_body, text, whole_number
from tollgate.batch_config import COMPLETION_WINDOWS, HOLD_MARGIN_SECONDS
from tollgate.v1 import batch_pb2

MAX_METADATA = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_BATCH_LIST = 100
Handler = Callable[[Request], Awaitable[Response]]


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(12)


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise bad_request(
            f"'metadata' must be an object of at most {MAX_METADATA} pairs.", param="metadata"
        )
    found = {}
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY or not isinstance(item, str):
            raise bad_request(
                f"'metadata' keys are at most {MAX_METADATA_KEY} characters and values "
                "are strings.",
                param="metadata",
            )
        if len(item) > MAX_METADATA_VALUE:
            raise bad_request(
                f"'metadata' values are at most {MAX_METADATA_VALUE} characters.",
                param=f"metadata.{key}",
            )
        for part in (key, item):
            if "\x00" in part or not _encodable(part):
                raise bad_request(
                    "'metadata' must not hold NUL characters or lone surrogates.",
                    param="metadata",
                )
        found[key] = item
    return found


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def batches_routes(api: BatchDeps) -> dict[str, Handler]:
    deps, stub = api.deps, api.batches

    async def create(request: Request, started: Started) -> Response:
        ctx = CallContext.admitted(started, await deps.gate.admit(request))
        body = parse_json(await read_body(request))
        file_id = text(body.get("input_file_id"), "input_file_id", required=True)
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise bad_request(
                f"'endpoint' must be one of {', '.join(ENDPOINTS)}.", param="endpoint"
            )
        window = body.get("completion_window")
        if not isinstance(window, str) or window not in COMPLETION_WINDOWS:  # a list: unhashable
            raise bad_request("'completion_window' must be '24h'.", param="completion_window")
        metadata = _metadata(body.get("metadata"))
        content = await _input_file(api, ctx.caller.project_id, file_id)
        checked, routes = await _checked(api, ctx, content, endpoint)
        batch_id = new_batch_id()
        header = batch_pb2.BatchHeader(
            batch_id=batch_id,
            project_id=ctx.caller.project_id,
            key_id=ctx.caller.key_id,
            input_file_id=file_id,
            endpoint=endpoint,
            completion_window=window,
            metadata=metadata,
            completion_window_seconds=COMPLETION_WINDOWS[window],
        )
        if checked.errors:
            header.status = batch_pb2.BATCH_STATUS_FAILED
            header.errors.extend(checked.errors)
            return JSONResponse(batch_json(await _store(api, header, [])))
        hold_seconds = COMPLETION_WINDOWS[window] + HOLD_MARGIN_SECONDS
        await reserve_lines(deps, ctx, checked.lines, routes, batch_id, hold_seconds)
        header.status = batch_pb2.BATCH_STATUS_VALIDATING
        lines = [
            batch_pb2.BatchLine(
                line=line.number,
                custom_id=line.custom_id,
                request_id=line_request_id(batch_id, line),
                model=line.model,
                body=line.encoded(),
                end_user=line.end_user,
                prompt_tokens_estimate=line.prompt_tokens,
            )
            for line in checked.lines
        ]
        try:
            info = await _store(api, header, lines)
        except BaseException:
            await release_all(deps, [line.request_id for line in lines])
            raise
        return JSONResponse(batch_json(info))

    async def retrieve(request: Request) -> Response:
        ref = await _ref(request)
        try:
            return JSONResponse(batch_json(await stub.GetBatch(ref)))
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, "batch", ref.batch_id) from None

    async def cancel(request: Request) -> Response:
        ref = await _ref(request)
        try:
            return JSONResponse(batch_json(await stub.CancelBatch(ref)))
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, "batch", ref.batch_id) from None

    async def listing(request: Request) -> Response:
        caller = (await deps.gate.admit(request, calling=False)).caller
        query = request.query_params
        limit = query.get("limit")
        wanted = 0 if limit is None else whole_number(limit, "limit", 1, MAX_BATCH_LIST)
        ask = batch_pb2.ListBatchesRequest(
            project_id=caller.project_id,
            after=text(query.get("after"), "after"),
            limit=wanted,
        )
        try:
            answer = await stub.ListBatches(ask)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, "batch", ask.after) from None
        return JSONResponse(page([batch_json(b) for b in answer.batches], answer.has_more))

    async def _ref(request: Request) -> batch_pb2.BatchRef:
        caller = (await deps.gate.admit(request, calling=False)).caller
        batch_id = text(request.path_params["batch_id"], "batch_id")
        return batch_pb2.BatchRef(project_id=caller.project_id, batch_id=batch_id)

    return {
        "create": traced("POST /v1/batches", create),
        "retrieve": retrieve,
        "list": listing,
        "cancel": cancel,
    }


async def _input_file(api: BatchDeps, project_id: str, file_id: str) -> bytes:
    """The input file's bytes; a 404 when the project has no such file, a 400 when it
    is not a batch input."""
    ref = batch_pb2.FileRef(project_id=project_id, file_id=file_id)
    try:
        info = await api.files.GetFile(ref)
        content = bytearray()
        async for chunk in api.files.ReadFile(ref):
            content += chunk.data
    except grpc.aio.AioRpcError as exc:
        raise rpc_error(exc, "File", file_id) from None
    if info.purpose != "batch":
        raise bad_request(
            f"The file {file_id} was not uploaded with purpose 'batch'.", param="input_file_id"
        )
    return bytes(content)


async def _checked(
    api: BatchDeps, ctx: CallContext, content: bytes, endpoint: str
) -> tuple[Checked, dict[str, Any]]:
    """The file's lines checked and counted, and the route of each model they name."""
    parsed = await asyncio.to_thread(parse_lines, content, endpoint, api.settings.max_lines)
    models = {line.model for line in parsed.lines}
    routes = {model: await api.deps.models.get(model) for model in sorted(models)}
    caller = ctx.caller
    project, key = await policy_rules(api.deps.policies, caller.project_id, caller.key_id)
    checked = await asyncio.to_thread(price_lines, parsed, endpoint, routes, project, key)
    checked.errors.sort(key=lambda e: e.line)
    return checked, routes


async def _store(
    api: BatchDeps, header: batch_pb2.BatchHeader, lines: list[batch_pb2.BatchLine]
) -> batch_pb2.BatchInfo:
    async def parts() -> AsyncIterator[batch_pb2.BatchPart]:
        yield batch_pb2.BatchPart(header=header)
        for line in lines:
            yield batch_pb2.BatchPart(line=line)

    try:
        return await api.batches.CreateBatch(parts())
    except grpc.aio.AioRpcError as exc:
        raise rpc_error(exc, "batch", header.batch_id) from None
