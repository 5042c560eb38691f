"""POST /v1/embeddings: authenticate, validate, reserve, relay, answer.

Embeddings bill input tokens only, so the reservation holds the input's cost and
one output token (`max_completion_tokens=1`; embedding models are priced at 0 for
output, so the hold is the input cost exactly). The router records the usage; if
it never answers, the reservation is released here."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.auth import Caller, secret_from
from services.gateway.chat import ChatDeps, authorize, error_from_event, release, traced
from services.gateway.errors import bad_request, unavailable, unknown_model
from services.gateway.validation import parse_json
from tollgate import embeddings, telemetry
from tollgate.config import Route
from tollgate.v1 import common_pb2, router_pb2

log = logging.getLogger(__name__)

# Embeddings have no output; one token is the least Budget will take as a cap.
OUTPUT_TOKENS_HELD = 1


@dataclass(frozen=True)
class EmbeddingParams:
    model: str
    inputs: list[embeddings.Item]
    user: str


def embedding_params(body: dict[str, Any]) -> EmbeddingParams:
    """The checked fields of an embeddings request; a 400 naming the field otherwise.
    Fields not checked here go to the upstream untouched."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' is required and must be a non-empty string.", param="model")
    if "input" not in body:
        raise bad_request("'input' is required.", param="input")
    problem = embeddings.input_error(body["input"])
    if problem is not None:
        raise bad_request(problem, param="input")
    encoding_format = body.get("encoding_format")
    if encoding_format is not None and encoding_format not in embeddings.ENCODING_FORMATS:
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
    ):
        raise bad_request("'dimensions' must be a positive integer.", param="dimensions")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise bad_request("'user' must be a string.", param="user")
    return EmbeddingParams(model=model, inputs=embeddings.items(body["input"]), user=user or "")


def embeddings_handler(deps: ChatDeps) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request, request_id: str, span: trace.Span) -> Response:
        started_ms = int(time.time() * 1000)
        secret = secret_from(request)
        caller = await deps.keys.resolve(secret)
        raw = await request.body()
        params = embedding_params(parse_json(raw))
        route = await deps.models.get(params.model)
        if route is None:
            raise unknown_model(params.model)
        span.set_attributes(
            {
                "tollgate.project_id": caller.project_id,
                "tollgate.key_id": caller.key_id,
                "gen_ai.request.model": params.model,
            }
        )
        prompt_tokens = embeddings.count_tokens(params.inputs, route.served_model)
        # Rate limits before the budget, as for chat. The estimate stands as the call's
        # token count: it is the tokenizer's count of the very input the upstream bills.
        lease = await deps.limits.acquire(caller, tokens=prompt_tokens, lease_id=request_id)
        try:
            return await _embed(
                deps,
                request_id,
                caller,
                secret,
                params,
                raw,
                route,
                prompt_tokens,
                started_ms,
                lease.headers,
            )
        finally:
            await lease.aclose()

    return traced("POST /v1/embeddings", handle)


async def _embed(
    deps: ChatDeps,
    request_id: str,
    caller: Caller,
    secret: str,
    params: EmbeddingParams,
    raw: bytes,
    route: Route,
    prompt_tokens: int,
    started_ms: int,
    limit_headers: dict[str, str],
) -> Response:
    await authorize(
        deps,
        request_id,
        caller,
        secret,
        route.served_model,
        user=params.user,
        prompt_tokens=prompt_tokens,
        max_completion_tokens=OUTPUT_TOKENS_HELD,
        choices=1,
    )
    try:
        answer = await deps.router.Embed(
            router_pb2.EmbedRequest(
                request_id=request_id,
                caller=common_pb2.Caller(
                    project_id=caller.project_id, key_id=caller.key_id, end_user=params.user
                ),
                model=params.model,
                body=raw,
                prompt_tokens_estimate=prompt_tokens,
                started_at_unix_ms=started_ms,
            ),
            metadata=telemetry.outgoing_metadata(),
        )
    except grpc.aio.AioRpcError as exc:
        # The router never answered, so it recorded nothing: free the reservation here.
        log.warning("router embed %s failed: %s", request_id, exc.code())
        await release(deps, request_id)
        raise unavailable("router") from None
    if answer.WhichOneof("result") != "body":
        # Nothing was served; as for chat, releasing covers the errors the router
        # records nothing for, and a later settlement of a released hold costs nothing.
        await release(deps, request_id)
        raise error_from_event(answer.error)
    return Response(
        answer.body,
        media_type="application/json",
        headers={"x-request-id": request_id, **limit_headers},
    )
