"""The audit log over HTTP: GET /admin/audit (`tollgate audit list`), and the actor
every admin route's change is recorded under.

Budget writes an audit row with each change an admin RPC makes, naming the actor the
call's `tollgate-actor` metadata gives. The HTTP admin API is `admin:` and the first
12 hex digits of its token's SHA-256: enough to tell two tokens apart in the log,
never enough to recover one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, operator_call
from services.gateway.validation import whole_number
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2, budget_pb2_grpc

ACTOR_KEY = "tollgate-actor"
MAX_LIMIT = 1000


def admin_actor(token: str) -> str:
    digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
    return f"admin:{digest[:12]}"


class _AsActor:
    """A blocking Budget stub whose every call carries `tollgate-actor`."""

    def __init__(self, stub: Any, actor: str) -> None:
        self._stub = stub
        self._actor = actor

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)

        def call(request: Any, **kw: Any) -> Any:
            metadata = (*(kw.pop("metadata", None) or ()), (ACTOR_KEY, self._actor))
            return method(request, metadata=metadata, **kw)

        return call


def as_actor(stub: budget_pb2_grpc.BudgetStub, token: str) -> budget_pb2_grpc.BudgetStub:
    return cast(budget_pb2_grpc.BudgetStub, _AsActor(stub, admin_actor(token)))


def _whole(params: Any, name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    return whole_number(value, name, low, high)


def routes(budget: budget_pb2_grpc.BudgetStub) -> list[Route]:
    async def get_audit(request: Request) -> Response:
        """GET /admin/audit?project=&since=&until=&action=&limit=&before_id=: newest
        first; `next_before_id` asks for the next page."""
        params = request.query_params
        wanted = budget_pb2.ListAuditEventsRequest(
            project=params.get("project") or None,
            since=params.get("since") or None,
            until=params.get("until") or None,
            action=params.get("action") or None,
            limit=_whole(params, "limit", 1, MAX_LIMIT) or 50,
            before_id=_whole(params, "before_id", 1, 2**63 - 1),
        )
        shown = await operator_call(budget.ListAuditEvents, wanted)
        page = {"data": [as_dict(e) for e in shown.events]}
        next_id = shown.next_before_id if shown.HasField("next_before_id") else None
        return as_json({**page, "next_before_id": next_id})

    return [Route("/admin/audit", get_audit, methods=["GET"])]
