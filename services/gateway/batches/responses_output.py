"""The output of a /v1/responses batch, as its client reads it: each line ran as a chat
completion (its request translated at creation, lines.py), so each answered line's
body is translated back into a Response object with the Responses front door's own
code, from the line's original request in the batch's input file. Error lines keep
their error bodies, which have one format for both APIs."""

from __future__ import annotations

import json
from typing import Any

import grpc

from services.gateway.batches.deps import BatchDeps
from services.gateway.batches.jsonl import request_lines
from services.gateway.batches.lines import RESPONSES
from services.gateway.batches.wire import rpc_error
from services.gateway.errors import ApiError
from services.gateway.responses.reply import (
    Shell,
    hex_of,
    response,
    response_id,
    usage_from_chat,
    usage_of,
)
from services.gateway.responses.request import Options
from tollgate.v1 import batch_pb2

OUTPUT_PURPOSE = "batch_output"


def batch_of(info: batch_pb2.FileInfo) -> str:
    """The batch an output or error file belongs to (`<batch id>_<kind>.jsonl`); "" if none."""
    if info.purpose != OUTPUT_PURPOSE or not info.filename.startswith("batch_"):
        return ""
    return info.filename.rsplit("_", 1)[0]


def originals(content: bytes) -> dict[str, dict[str, Any]]:
    """Each request's body in an input file, by custom_id."""
    found: dict[str, dict[str, Any]] = {}
    for _, raw in request_lines(content):
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("body"), dict):
            found[str(line.get("custom_id"))] = line["body"]
    return found


def translated(content: bytes, requests: dict[str, dict[str, Any]]) -> bytes:
    out = []
    for _, raw in request_lines(content):
        line = json.loads(raw)
        answer = line.get("response")
        body = requests.get(str(line.get("custom_id")))
        if isinstance(answer, dict) and answer.get("status_code") == 200 and body is not None:
            completion = answer.get("body")
            if isinstance(completion, dict):
                request_id = str(answer.get("request_id", ""))
                try:
                    options = Options.of(body)
                except ApiError:
                    options = None
                if options is not None:
                    shell = Shell(response_id(request_id), hex_of(request_id), options, body)
                    usage = usage_from_chat(completion.get("usage")) or usage_of(0, 0, 0, 0, 0)
                    answer["body"] = response(shell, completion, usage)
        out.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode())
    return b"".join(line + b"\n" for line in out)


async def responses_output(
    api: BatchDeps, project_id: str, info: batch_pb2.FileInfo, content: bytes
) -> bytes:
    """The file as its client reads it: translated when it is a /v1/responses batch's."""
    batch_id = batch_of(info)
    if not batch_id:
        return content
    try:
        batch = await api.batches.GetBatch(
            batch_pb2.BatchRef(project_id=project_id, batch_id=batch_id)
        )
        if batch.endpoint != RESPONSES:
            return content
        ref = batch_pb2.FileRef(project_id=project_id, file_id=batch.input_file_id)
        source = bytearray()
        async for chunk in api.files.ReadFile(ref):
            source += chunk.data
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return content  # the batch or its input file is gone: the lines as they ran
        raise rpc_error(exc, "File", info.id) from None
    return translated(content, originals(bytes(source)))
