"""The admin RPCs of budgets, rate limits and model policies."""

from __future__ import annotations

import grpc

from services.budget.admin import budgets, limits, policies
from services.budget.admin.rpc import AdminContext, admin_rpc, given
from services.budget.admin.wire import (
    budget_pb,
    key_policy_pb,
    limit_pb,
    plain,
    project_policy_pb,
)
from tollgate.v1 import budget_pb2


class BudgetRpcs:
    admin: AdminContext

    @admin_rpc
    def SetBudget(
        self, request: budget_pb2.SetBudgetRequest, context: grpc.ServicerContext
    ) -> budget_pb2.BudgetInfo:
        info = budgets.set_budget(
            self.admin.engine,
            request.project,
            period=request.period,
            amount=request.amount,
            key_id=given(request, "key_id"),
            hard=request.hard,
            alert_at=given(request, "alert_at"),
            zone=self.admin.zone,
        )
        return budget_pb(info)

    @admin_rpc
    def ListBudgets(
        self, request: budget_pb2.ListBudgetsRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ListBudgetsResponse:
        shown = budgets.list_budgets(
            self.admin.engine, given(request, "project"), zone=self.admin.zone
        )
        return budget_pb2.ListBudgetsResponse(budgets=[budget_pb(b) for b in shown])

    @admin_rpc
    def DeleteBudget(
        self, request: budget_pb2.DeleteBudgetRequest, context: grpc.ServicerContext
    ) -> budget_pb2.DeleteBudgetResponse:
        deleted = budgets.delete_budget(
            self.admin.engine,
            request.project,
            period=request.period,
            key_id=given(request, "key_id"),
        )
        return budget_pb2.DeleteBudgetResponse(deleted=deleted)

    @admin_rpc
    def SetLimits(
        self, request: budget_pb2.SetLimitsRequest, context: grpc.ServicerContext
    ) -> budget_pb2.SetLimitsResponse:
        values = {name: plain(value) for name, value in request.limits.items()}
        info = limits.set_limits(
            self.admin.engine, request.project, key_id=given(request, "key_id"), **values
        )
        return budget_pb2.SetLimitsResponse(limits=None if info is None else limit_pb(info))

    @admin_rpc
    def ListLimits(
        self, request: budget_pb2.ListLimitsRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ListLimitsResponse:
        shown = limits.list_limits(self.admin.engine, given(request, "project"))
        return budget_pb2.ListLimitsResponse(limits=[limit_pb(info) for info in shown])

    @admin_rpc
    def ClearLimits(
        self, request: budget_pb2.ClearLimitsRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ClearLimitsResponse:
        cleared = limits.clear_limits(
            self.admin.engine, request.project, key_id=given(request, "key_id")
        )
        return budget_pb2.ClearLimitsResponse(cleared=cleared)

    @admin_rpc
    def GetProjectPolicy(
        self, request: budget_pb2.ProjectRef, context: grpc.ServicerContext
    ) -> budget_pb2.ProjectPolicy:
        return project_policy_pb(policies.get_project_policy(self.admin.engine, request.project))

    @admin_rpc
    def SetProjectPolicy(
        self, request: budget_pb2.SetProjectPolicyRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ProjectPolicy:
        fields = {name: plain(value) for name, value in request.fields.items()}
        info = policies.set_project_policy(self.admin.engine, request.project, **fields)
        return project_policy_pb(info)

    @admin_rpc
    def GetKeyPolicy(
        self, request: budget_pb2.KeyRef, context: grpc.ServicerContext
    ) -> budget_pb2.KeyPolicy:
        return key_policy_pb(policies.get_key_policy(self.admin.engine, request.key_id))

    @admin_rpc
    def SetKeyPolicy(
        self, request: budget_pb2.SetKeyPolicyRequest, context: grpc.ServicerContext
    ) -> budget_pb2.KeyPolicy:
        fields = {name: plain(value) for name, value in request.fields.items()}
        return key_policy_pb(policies.set_key_policy(self.admin.engine, request.key_id, **fields))
