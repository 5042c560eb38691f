"""The admin RPCs of projects and keys."""

from __future__ import annotations

import grpc

from services.budget.admin import keys, projects
from services.budget.admin.rpc import AdminContext, admin_rpc, given
from services.budget.admin.wire import key_pb, project_pb
from tollgate.v1 import budget_pb2


class ProjectRpcs:
    admin: AdminContext

    @admin_rpc
    def CreateProject(
        self, request: budget_pb2.CreateProjectRequest, context: grpc.ServicerContext
    ) -> budget_pb2.Project:
        created = projects.create_project(
            self.admin.engine,
            request.name,
            currency=request.currency or "CNY",
            monthly_budget=given(request, "monthly_budget"),
            zone=self.admin.zone,
        )
        return project_pb(created)

    @admin_rpc
    def ListProjects(
        self, request: budget_pb2.ListProjectsRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ListProjectsResponse:
        listed = projects.list_projects(self.admin.engine)
        return budget_pb2.ListProjectsResponse(projects=[project_pb(p) for p in listed])

    @admin_rpc
    def GetProject(
        self, request: budget_pb2.ProjectRef, context: grpc.ServicerContext
    ) -> budget_pb2.Project:
        return project_pb(projects.get_project(self.admin.engine, request.project))

    @admin_rpc
    def SetMonthlyBudget(
        self, request: budget_pb2.SetMonthlyBudgetRequest, context: grpc.ServicerContext
    ) -> budget_pb2.Project:
        changed = projects.set_monthly_budget(
            self.admin.engine, request.project, given(request, "amount"), zone=self.admin.zone
        )
        return project_pb(changed)

    @admin_rpc
    def SetPriceMultiplier(
        self, request: budget_pb2.SetPriceMultiplierRequest, context: grpc.ServicerContext
    ) -> budget_pb2.Project:
        changed = projects.set_price_multiplier(
            self.admin.engine, request.project, request.multiplier
        )
        return project_pb(changed)

    @admin_rpc
    def CreateKey(
        self, request: budget_pb2.CreateKeyRequest, context: grpc.ServicerContext
    ) -> budget_pb2.CreatedKey:
        created = keys.create_key(
            self.admin.engine,
            request.project,
            request.name,
            expires_at=given(request, "expires_at"),
            expires_in_seconds=given(request, "expires_in_seconds"),
        )
        return budget_pb2.CreatedKey(key=key_pb(created.info), secret=created.secret)

    @admin_rpc
    def RotateKey(
        self, request: budget_pb2.RotateKeyRequest, context: grpc.ServicerContext
    ) -> budget_pb2.RotatedKey:
        rotated = keys.rotate_key(
            self.admin.engine,
            request.key_id,
            request.grace_seconds,
            expires_at=given(request, "expires_at"),
            expires_in_seconds=given(request, "expires_in_seconds"),
        )
        return budget_pb2.RotatedKey(key=key_pb(rotated.info), secret=rotated.secret)

    @admin_rpc
    def ListKeys(
        self, request: budget_pb2.ProjectRef, context: grpc.ServicerContext
    ) -> budget_pb2.ListKeysResponse:
        listed = keys.list_keys(self.admin.engine, request.project)
        return budget_pb2.ListKeysResponse(keys=[key_pb(k) for k in listed])

    @admin_rpc
    def RevokeKey(
        self, request: budget_pb2.KeyRef, context: grpc.ServicerContext
    ) -> budget_pb2.ApiKey:
        return key_pb(keys.revoke_key(self.admin.engine, request.key_id))

    @admin_rpc
    def ResumeKey(
        self, request: budget_pb2.KeyRef, context: grpc.ServicerContext
    ) -> budget_pb2.ResumedKey:
        key, was_paused = keys.resume_key(self.admin.engine, request.key_id)
        return budget_pb2.ResumedKey(key=key_pb(key), was_paused=was_paused)
