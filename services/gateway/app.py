"""The gateway's HTTP app: the front doors, the reads, the admin API, one error format.

Each route lives in its own module; this one wires them to what they share (`Deps`)."""

from __future__ import annotations

import grpc
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.gateway.admin import admin_routes
from services.gateway.auth import KeyCache
from services.gateway.batches import BatchDeps, batch_api_routes
from services.gateway.catalog import ModelCatalog
from services.gateway.chat import chat_handler
from services.gateway.completions import completions_handler
from services.gateway.count_tokens import count_tokens_handler
from services.gateway.dashboard import dashboard_routes
from services.gateway.deps import Deps
from services.gateway.embeddings import embeddings_handler
from services.gateway.error_handlers import EXCEPTION_HANDLERS, openai_errors
from services.gateway.gate import Gate
from services.gateway.http_server import BODY_TIMEOUT_SECONDS, BodyTimeout
from services.gateway.messages import messages_handler
from services.gateway.models import model_handler, models_handler
from services.gateway.observe import Observe
from services.gateway.openapi import openapi_json
from services.gateway.policy_cache import PolicyCache
from services.gateway.ratelimit import create_limiter
from services.gateway.request_id import RequestIds
from services.gateway.responses import responses_routes
from services.gateway.usage import usage_handler
from tollgate.batch_config import BatchSettings
from tollgate.v1 import budget_pb2_grpc, metering_pb2_grpc, responses_pb2_grpc, router_pb2_grpc


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(
    engine: Engine,
    *,
    admin_token: str = "",
    budget: budget_pb2_grpc.BudgetStub,
    router: router_pb2_grpc.RouterStub,
    metering: metering_pb2_grpc.MeteringStub,
    redis_url: str = "",
    body_timeout_seconds: float = BODY_TIMEOUT_SECONDS,
    admin_budget: budget_pb2_grpc.BudgetStub | None = None,  # blocking, for the admin API
    responses: responses_pb2_grpc.ResponseStoreStub | None = None,  # None: nothing stored
    # The router's channel, for the Batch API's Files and Batches (None: they answer 503).
    router_channel: grpc.aio.Channel | None = None,
) -> Starlette:
    deps = Deps(
        gate=Gate(KeyCache(engine), create_limiter(engine, redis_url)),
        models=ModelCatalog(router),
        budget=budget,
        router=router,
        metering=metering,
        policies=PolicyCache(engine),
        responses=responses,
    )
    return Starlette(
        # RequestIds first: every answer, whichever middleware or route made it, has its id.
        middleware=[
            Middleware(RequestIds),
            Middleware(Observe),  # metrics and the access line, with the request's id
            Middleware(BodyTimeout, seconds=body_timeout_seconds),
        ],
        routes=[
            Route("/v1/chat/completions", openai_errors(chat_handler(deps)), methods=["POST"]),
            Route("/v1/completions", openai_errors(completions_handler(deps)), methods=["POST"]),
            Route("/v1/embeddings", openai_errors(embeddings_handler(deps)), methods=["POST"]),
            # The Anthropic-format front door answers its errors in Anthropic's format.
            Route("/v1/messages", messages_handler(deps), methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens_handler(deps), methods=["POST"]),
            Route("/v1/models", openai_errors(models_handler(deps)), methods=["GET"]),
            Route("/v1/models/{model:path}", openai_errors(model_handler(deps)), methods=["GET"]),
            Route("/v1/usage", openai_errors(usage_handler(deps)), methods=["GET"]),
            *responses_routes(deps),  # the Responses API (docs/responses.md)
            # Files and batches (docs/batches.md).
            *batch_api_routes(BatchDeps.over(deps, router_channel, BatchSettings.from_env())),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            *admin_routes(engine, admin_token, metering=metering, budget=admin_budget),
            *dashboard_routes(deps.keys, admin_token, metering=metering, budget=admin_budget),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
