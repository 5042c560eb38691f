"""The admin RPC that reads the audit log."""

from __future__ import annotations

import grpc

from services.budget.admin.audit import AuditQuery, list_audit
from services.budget.admin.rpc import AdminContext, admin_rpc, given
from tollgate.v1 import budget_pb2


class AuditRpcs:
    admin: AdminContext

    @admin_rpc
    def ListAuditEvents(
        self, request: budget_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ListAuditEventsResponse:
        query = AuditQuery(
            project=given(request, "project"),
            since=given(request, "since"),
            until=given(request, "until"),
            action=given(request, "action"),
            limit=request.limit,
            before_id=given(request, "before_id"),
        )
        page, next_before = list_audit(self.admin.engine, query)
        events = [
            budget_pb2.AuditEvent(
                id=e.id,
                at=e.at.isoformat(),
                actor=e.actor,
                action=e.action,
                target_kind=e.target_kind,
                target=e.target,
                project_id=e.project_id,
                project=e.project,
                before=e.before,
                after=e.after,
            )
            for e in page
        ]
        return budget_pb2.ListAuditEventsResponse(events=events, next_before_id=next_before)
