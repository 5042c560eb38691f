"""Projects and their keys: /admin/projects..., /admin/keys/{id}/..."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.admin.common import as_json, body_of, checked, only_fields, text_field
from tollgate import admin
from tollgate.money import parse_multiplier


def routes(engine: Engine) -> list[Route]:
    async def list_projects(request: Request) -> Response:
        projects = await asyncio.to_thread(admin.list_projects, engine)
        return as_json({"data": [asdict(p) for p in projects]})

    async def get_project(request: Request) -> Response:
        project = await asyncio.to_thread(admin.get_project, engine, request.path_params["name"])
        return as_json(asdict(project))

    async def create_project(request: Request) -> Response:
        body = await body_of(request)
        project = await asyncio.to_thread(
            admin.create_project,
            engine,
            text_field(body, "name", required=True) or "",
            currency=text_field(body, "currency") or "CNY",
            monthly_budget=text_field(body, "monthly_budget"),
        )
        return as_json(asdict(project), 201)

    async def patch_project(request: Request) -> Response:
        """PATCH /admin/projects/{name} {"price_multiplier": "1.15"}"""
        body = await body_of(request)
        only_fields(body, ["price_multiplier"])
        multiplier = text_field(body, "price_multiplier", required=True) or ""
        checked("price_multiplier", parse_multiplier, multiplier)
        project = await asyncio.to_thread(
            admin.set_price_multiplier, engine, request.path_params["name"], multiplier
        )
        return as_json(asdict(project))

    async def set_monthly_budget(request: Request) -> Response:
        body = await body_of(request)
        project = await asyncio.to_thread(
            admin.set_monthly_budget,
            engine,
            request.path_params["name"],
            text_field(body, "monthly_budget"),
        )
        return as_json(asdict(project))

    async def list_keys(request: Request) -> Response:
        keys = await asyncio.to_thread(admin.list_keys, engine, request.path_params["name"])
        return as_json({"data": [asdict(k) for k in keys]})

    async def create_key(request: Request) -> Response:
        body = await body_of(request, optional=True)
        created = await asyncio.to_thread(
            admin.create_key, engine, request.path_params["name"], text_field(body, "name") or ""
        )
        return as_json({**asdict(created.info), "secret": created.secret}, 201)

    async def revoke_key(request: Request) -> Response:
        key = await asyncio.to_thread(admin.revoke_key, engine, request.path_params["key_id"])
        return as_json(asdict(key))

    async def resume_key(request: Request) -> Response:
        """POST /admin/keys/{id}/resume: clear a spike alert's pause (`tollgate key resume`)."""
        key, was_paused = await asyncio.to_thread(
            admin.resume_key, engine, request.path_params["key_id"]
        )
        return as_json({**asdict(key), "was_paused": was_paused})

    return [
        Route("/admin/projects", list_projects, methods=["GET"]),
        Route("/admin/projects", create_project, methods=["POST"]),
        Route("/admin/projects/{name}", get_project, methods=["GET"]),
        Route("/admin/projects/{name}", patch_project, methods=["PATCH"]),
        Route("/admin/projects/{name}/budget", set_monthly_budget, methods=["PUT"]),
        Route("/admin/projects/{name}/keys", list_keys, methods=["GET"]),
        Route("/admin/projects/{name}/keys", create_key, methods=["POST"]),
        Route("/admin/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
        Route("/admin/keys/{key_id}/resume", resume_key, methods=["POST"]),
    ]
