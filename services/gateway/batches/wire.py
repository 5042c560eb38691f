"""The Batch API's objects as OpenAI shows them (File, Batch, lists), and the router's
gRPC errors as OpenAI errors: NOT_FOUND is a 404 whether the id is unknown or another
project's, so a project cannot even learn that another's id exists."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import grpc

from services.gateway.errors import ApiError, unavailable
from tollgate.v1 import batch_pb2

log = logging.getLogger(__name__)

STATUS = {
    batch_pb2.BATCH_STATUS_VALIDATING: "validating",
    batch_pb2.BATCH_STATUS_FAILED: "failed",
    batch_pb2.BATCH_STATUS_IN_PROGRESS: "in_progress",
    batch_pb2.BATCH_STATUS_FINALIZING: "finalizing",
    batch_pb2.BATCH_STATUS_COMPLETED: "completed",
    batch_pb2.BATCH_STATUS_EXPIRED: "expired",
    batch_pb2.BATCH_STATUS_CANCELLING: "cancelling",
    batch_pb2.BATCH_STATUS_CANCELLED: "cancelled",
}
# A batch whose usage is summed: it finished, with its lines that ran.
FINISHED = frozenset(
    {
        batch_pb2.BATCH_STATUS_COMPLETED,
        batch_pb2.BATCH_STATUS_EXPIRED,
        batch_pb2.BATCH_STATUS_CANCELLED,
    }
)
_TIMES = (
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


def file_json(info: batch_pb2.FileInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "object": "file",
        "bytes": info.bytes,
        "created_at": info.created_at,
        "filename": info.filename,
        "purpose": info.purpose,
        "status": info.status or "processed",
        "expires_at": None,
        "status_details": None,
    }


def batch_json(info: batch_pb2.BatchInfo) -> dict[str, Any]:
    errors = [
        {
            "code": e.code or None,
            "message": e.message or None,
            "param": e.param or None,
            "line": e.line or None,
        }
        for e in info.errors
    ]
    body: dict[str, Any] = {
        "id": info.id,
        "object": "batch",
        "endpoint": info.endpoint,
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": info.input_file_id,
        "completion_window": info.completion_window,
        "status": STATUS.get(info.status, "failed"),
        "output_file_id": info.output_file_id or None,
        "error_file_id": info.error_file_id or None,
        "created_at": info.created_at,
        "request_counts": {
            "total": info.request_counts.total,
            "completed": info.request_counts.completed,
            "failed": info.request_counts.failed,
        },
        "metadata": dict(info.metadata) or None,
        "usage": _usage(info) if info.status in FINISHED else None,
    }
    for name in _TIMES:
        body[name] = getattr(info, name) or None
    return body


def _usage(info: batch_pb2.BatchInfo) -> dict[str, Any]:
    usage = info.usage
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def page(items: Sequence[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": list(items),
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"No such {what}: {ident}", param="id", code="not_found")


def rpc_error(exc: grpc.aio.AioRpcError, what: str, ident: str) -> ApiError:
    """The client's error for a failed call to the router's Files or Batches."""
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return not_found(what, ident)
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return ApiError(400, exc.details() or "Invalid request.")
    log.warning("batch api call for %s failed: %s", ident, exc.code())
    return unavailable("router")
