"""The gateway's side of stored responses: the router's ResponseStore, by project.

A response is looked up only under the caller's own project, so another project's
id, an expired one and an unknown one are the same answer: not found. Storing never
fails a call that was served (and billed): a store that is away is logged, and the
response simply cannot be continued or fetched later."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc

from services.gateway.errors import ApiError, unavailable
from tollgate import telemetry
from tollgate.v1 import responses_pb2, responses_pb2_grpc

log = logging.getLogger(__name__)

JSON = dict[str, Any]
STORE_TIMEOUT_SECONDS = 10.0


def not_found(response_id: str, param: str | None = None) -> ApiError:
    code = "previous_response_not_found" if param else "not_found"
    status = 400 if param else 404
    return ApiError(
        status, f"Response with id '{response_id[:200]}' not found.", param=param, code=code
    )


@dataclass(frozen=True)
class Stored:
    """A stored response: the object the client got, and the conversation it answered."""

    response_id: str
    model: str
    response: JSON
    input_items: list[JSON]
    upstream_held: bool

    @property
    def output(self) -> list[JSON]:
        output = self.response.get("output")
        return (
            [item for item in output if isinstance(item, dict)] if isinstance(output, list) else []
        )

    @property
    def conversation(self) -> list[JSON]:
        """What a response continuing this one follows: its input, then its output."""
        return [*self.input_items, *self.output]


def _loads(raw: bytes, kind: type) -> Any:
    try:
        value = json.loads(raw) if raw else kind()
    except ValueError:
        value = kind()
    return value if isinstance(value, kind) else kind()


class ResponseStore:
    def __init__(self, stub: responses_pb2_grpc.ResponseStoreStub | None) -> None:
        self._stub = stub

    @property
    def enabled(self) -> bool:
        return self._stub is not None

    async def get(self, project_id: str, response_id: str) -> Stored | None:
        if self._stub is None:
            return None
        try:
            reply = await self._stub.GetResponse(
                responses_pb2.GetResponseRequest(project_id=project_id, response_id=response_id),
                timeout=STORE_TIMEOUT_SECONDS,
                metadata=telemetry.outgoing_metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("reading stored response failed: %s", exc.code())
            raise unavailable("router") from None
        if not reply.found:
            return None
        stored = reply.response
        return Stored(
            stored.response_id,
            stored.model,
            _loads(stored.response, dict),
            _loads(stored.input_items, list),
            stored.upstream_held,
        )

    async def put(
        self,
        project_id: str,
        response: JSON,
        conversation: list[JSON],
        *,
        upstream_held: bool = False,
    ) -> None:
        response_id = response.get("id")
        if self._stub is None or not isinstance(response_id, str) or not response_id:
            return
        model = response.get("model")
        stored = responses_pb2.StoredResponse(
            project_id=project_id,
            response_id=response_id,
            model=model if isinstance(model, str) else "",
            response=json.dumps(response, ensure_ascii=False).encode(),
            input_items=json.dumps(conversation, ensure_ascii=False).encode(),
            upstream_held=upstream_held,
            created_at_unix_ms=int(time.time() * 1000),
        )
        try:
            await self._stub.PutResponse(
                responses_pb2.PutResponseRequest(response=stored),
                timeout=STORE_TIMEOUT_SECONDS,
                metadata=telemetry.outgoing_metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("storing response %s failed: %s", response_id, exc.code())

    async def delete(self, project_id: str, response_id: str) -> bool:
        if self._stub is None:
            return False
        try:
            reply = await self._stub.DeleteResponse(
                responses_pb2.DeleteResponseRequest(project_id=project_id, response_id=response_id),
                timeout=STORE_TIMEOUT_SECONDS,
                metadata=telemetry.outgoing_metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("deleting stored response failed: %s", exc.code())
            raise unavailable("router") from None
        return bool(reply.deleted)
