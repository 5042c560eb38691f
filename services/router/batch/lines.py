"""One batch line as a call through the router's own path: the Router servicer's
`ChatCompletion` or `Embed`, called as a function (routing, failover, providers, the
open-call file and the usage record, exactly as for a direct call). The usage record
of a line carries its batch's id (`BatchRecorder`), so metering writes one ledger row
per line, tagged with the batch and billed at the batch price."""

from __future__ import annotations

import json
from typing import Any

from services.router.batch.leases import Claimed
from services.router.opencalls import OpenCall, Progress, Recorder
from services.router.outcomes import now_ms
from services.router.server import RouterServicer
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"


class BatchRecorder:
    """The router's recorder, with each batch line's record tagged with its batch id
    (the final record and the open-call file a crash would bill alike)."""

    def __init__(self, inner: Recorder) -> None:
        self._inner = inner
        self._batches: dict[str, str] = {}  # request id -> batch id

    def tag(self, request_id: str, batch_id: str) -> None:
        self._batches[request_id] = batch_id

    def untag(self, request_id: str) -> None:
        self._batches.pop(request_id, None)

    def open(self, request_id: str, progress: Progress) -> OpenCall:
        batch_id = self._batches.get(request_id, "")  # fixed now: the file may outlive the tag

        def tagged() -> metering_pb2.UsageRecord:
            record = progress()
            record.batch_id = batch_id or record.batch_id
            return record

        return self._inner.open(request_id, tagged)

    def put(self, record: metering_pb2.UsageRecord) -> None:
        record.batch_id = self._batches.get(record.request_id, record.batch_id)
        self._inner.put(record)


def _caller(line: Claimed) -> common_pb2.Caller:
    return common_pb2.Caller(project_id=line.project_id, key_id=line.key_id, end_user=line.end_user)


def error_body(error: common_pb2.Error) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message or "The upstream call failed.",
            "type": error.type or "api_error",
            "param": error.param or None,
            "code": error.code or None,
        }
    }


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


async def run_line(servicer: RouterServicer, line: Claimed) -> tuple[int, Any]:
    """Send the line; its HTTP status and response body, as a direct call would answer."""
    if line.endpoint == EMBEDDINGS:
        return await _embed(servicer, line)
    return await _chat(servicer, line)


async def _chat(servicer: RouterServicer, line: Claimed) -> tuple[int, Any]:
    request = router_pb2.ChatRequest(
        request_id=line.request_id,
        caller=_caller(line),
        model=line.model,
        stream=False,
        body=line.body,
        prompt_tokens_estimate=line.prompt_tokens,
        started_at_unix_ms=now_ms(),
        # A batch line is never answered from the response cache: a hit is recorded
        # apart from the line's recorder, and could not carry the batch id.
        cache_mode=common_pb2.CACHE_MODE_SKIP,
        priority=common_pb2.PRIORITY_LOW,
        # /v1/responses lines come translated to chat by the gateway.
        api=router_pb2.API_CHAT,
    )
    answer: tuple[int, Any] = (502, error_body(common_pb2.Error()))
    async for event in servicer.ChatCompletion(request, None):  # type: ignore[arg-type]
        kind = event.WhichOneof("event")
        if kind == "response":
            answer = (200, _json(event.response))
        elif kind == "error":
            answer = (event.error.http_status or 502, error_body(event.error))
    return answer


async def _embed(servicer: RouterServicer, line: Claimed) -> tuple[int, Any]:
    request = router_pb2.EmbedRequest(
        request_id=line.request_id,
        caller=_caller(line),
        model=line.model,
        body=line.body,
        prompt_tokens_estimate=line.prompt_tokens,
        started_at_unix_ms=now_ms(),
    )
    answer = await servicer.Embed(request, None)  # type: ignore[arg-type]
    if answer.WhichOneof("result") == "body":
        return 200, _json(answer.body)
    return answer.error.http_status or 502, error_body(answer.error)
