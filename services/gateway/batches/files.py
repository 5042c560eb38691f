"""/v1/files: upload (multipart, purpose `batch`), list, retrieve, content, delete.

Files live in the router's database, per project; every call names the caller's
project, so another project's file is a 404 like an unknown one. An upload is
capped while it is read (TOLLGATE_FILE_MAX_BYTES, a 413), and a batch input file is
checked at the door: UTF-8 text with no NUL byte and at most TOLLGATE_BATCH_MAX_LINES
requests (a 400); each line's JSON is checked when a batch is created from it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from services.gateway.batches.deps import BatchDeps
from services.gateway.batches.jsonl import request_lines
from services.gateway.batches.multipart import read_form
from services.gateway.batches.responses_output import batch_of, responses_output
from services.gateway.batches.wire import file_json, page, rpc_error
from services.gateway.errors import bad_request
from services.gateway.validation import MAX_TEXT_CHARS, text, whole_number
from tollgate.v1 import batch_pb2

PURPOSES = ("batch",)
CHUNK_BYTES = 1024 * 1024
MAX_FILE_LIST = 10_000
Handler = Callable[[Request], Awaitable[Response]]


def check_batch_file(content: bytes, max_lines: int) -> None:
    """A 400 unless the upload can be a batch's input: UTF-8 text, no NUL byte, and
    between one and `max_lines` requests."""
    if b"\x00" in content:
        raise bad_request("The file holds a NUL byte; a batch file is JSONL text.", param="file")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("The file is not UTF-8 text.", param="file") from None
    count = len(request_lines(content))
    if count == 0:
        raise bad_request("The file holds no requests.", param="file")
    if count > max_lines:
        raise bad_request(
            f"The file holds {count} requests; a batch may hold at most {max_lines}.",
            param="file",
        )


def _filename(name: str | None) -> str:
    if name is None:
        raise bad_request("'file' is required.", param="file")
    name = name.replace("\\", "/").rsplit("/", 1)[-1][:MAX_TEXT_CHARS] or "upload.jsonl"
    return text(name, "file")


def files_routes(api: BatchDeps) -> dict[str, Handler]:
    """The handlers, by name (app.py wires them to paths)."""
    gate, stub, settings = api.deps.gate, api.files, api.settings

    async def upload(request: Request) -> Response:
        caller = (await gate.admit(request, calling=False)).caller
        form = await read_form(request, settings.file_max_bytes)
        purpose = form.fields.get("purpose", b"").decode("utf-8", "replace")
        if purpose not in PURPOSES:
            raise bad_request(
                f"'purpose' must be one of {', '.join(PURPOSES)}; got {purpose[:40]!r}.",
                param="purpose",
            )
        filename = _filename(form.filename)
        content = bytes(form.file)
        await asyncio.to_thread(check_batch_file, content, settings.max_lines)
        header = batch_pb2.FileHeader(
            project_id=caller.project_id, filename=filename, purpose=purpose
        )

        async def parts() -> AsyncIterator[batch_pb2.FilePart]:
            yield batch_pb2.FilePart(header=header)
            for start in range(0, len(content), CHUNK_BYTES):
                yield batch_pb2.FilePart(chunk=content[start : start + CHUNK_BYTES])

        try:
            info = await stub.CreateFile(parts())
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, "File", filename) from None
        return JSONResponse(file_json(info))

    async def listing(request: Request) -> Response:
        caller = (await gate.admit(request, calling=False)).caller
        query = request.query_params
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise bad_request("'order' must be 'asc' or 'desc'.", param="order")
        ask = batch_pb2.ListFilesRequest(
            project_id=caller.project_id,
            after=text(query.get("after"), "after"),
            limit=_limit(query.get("limit"), MAX_FILE_LIST),
            purpose=text(query.get("purpose"), "purpose"),
            ascending=order == "asc",
        )
        try:
            answer = await stub.ListFiles(ask)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, "File", ask.after) from None
        return JSONResponse(page([file_json(f) for f in answer.files], answer.has_more))

    async def retrieve(request: Request) -> Response:
        ref = await _ref(request)
        try:
            return JSONResponse(file_json(await stub.GetFile(ref)))
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, "File", ref.file_id) from None

    async def delete(request: Request) -> Response:
        ref = await _ref(request)
        try:
            info = await stub.DeleteFile(ref)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, "File", ref.file_id) from None
        return JSONResponse({"id": info.id, "object": "file", "deleted": True})

    async def content(request: Request) -> Response:
        ref = await _ref(request)
        try:
            info = await stub.GetFile(ref)
            if batch_of(info):  # a batch's output: a /v1/responses batch's is translated
                whole = bytearray()
                async for piece in stub.ReadFile(ref):
                    whole += piece.data
                shown = await responses_output(api, ref.project_id, info, bytes(whole))
                return Response(shown, media_type="application/octet-stream")
            chunks = stub.ReadFile(ref)
            first = await chunks.read()
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, "File", ref.file_id) from None

        async def body() -> AsyncIterator[bytes]:
            # read() to the end: a grpc.aio call refuses async iteration after a read()
            # (UsageError), which would cut the answer off after its first chunk.
            chunk = first
            while chunk is not grpc.aio.EOF:
                yield chunk.data
                chunk = await chunks.read()

        return StreamingResponse(body(), media_type="application/octet-stream")

    async def _ref(request: Request) -> batch_pb2.FileRef:
        caller = (await gate.admit(request, calling=False)).caller
        file_id = text(request.path_params["file_id"], "file_id")
        return batch_pb2.FileRef(project_id=caller.project_id, file_id=file_id)

    return {
        "upload": upload,
        "list": listing,
        "retrieve": retrieve,
        "delete": delete,
        "content": content,
    }


def _limit(value: Any, maximum: int) -> int:
    return 0 if value is None else whole_number(str(value), "limit", 1, maximum)
