"""POST /v1/embeddings: authenticate, validate, reserve, relay, answer.

Embeddings bill input tokens only, so the reservation holds the input's cost and
one output token (`max_completion_tokens=1`; embedding models are priced at 0 for
output, so the hold is the input cost exactly). The router records the usage; if
it never answers, the reservation is released here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.caller import caller_proto
from services.gateway.context import CallContext, Started, traced
from services.gateway.deps import Deps
from services.gateway.errors import bad_request, unavailable, unknown_model
from services.gateway.policy import allows, model_not_allowed
from services.gateway.relay import error_from_event
from services.gateway.reserve import Hold, authorize, release
from services.gateway.steering import policy_rules
from services.gateway.validation import (
    MAX_DIMENSIONS,
    bounded_int,
    off_loop,
    parse_json,
    read_body,
    text,
)
from tollgate import embeddings, telemetry
from tollgate.v1 import router_pb2

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
    model = text(body.get("model"), "model", required=True)
    if "input" not in body:
        raise bad_request("'input' is required.", param="input")
    problem = embeddings.input_error(body["input"])
    if problem is not None:
        raise bad_request(problem, param="input")
    encoding_format = body.get("encoding_format")
    if encoding_format is not None and encoding_format not in embeddings.ENCODING_FORMATS:
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    bounded_int(body, "dimensions", 1, MAX_DIMENSIONS)
    user = text(body.get("user"), "user")
    return EmbeddingParams(model=model, inputs=embeddings.items(body["input"]), user=user)


def _params(raw: bytes) -> EmbeddingParams:
    return embedding_params(parse_json(raw))


def embeddings_handler(deps: Deps) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request, started: Started) -> Response:
        ctx = CallContext.admitted(started, await deps.gate.admit(request))
        raw = await read_body(request)
        params = await off_loop(len(raw), _params, raw)
        caller = ctx.caller
        # An embeddings model is never swapped for another (vectors of two models do not
        # mix): the allow-lists apply as they are, with no preference or priority rule.
        project, key = await policy_rules(deps.policies, caller.project_id, caller.key_id)
        if not allows(project, key, params.model):
            raise model_not_allowed(params.model)
        route = await deps.models.get(params.model)
        if route is None:
            raise unknown_model(params.model)
        ctx.describe(params.model)
        prompt_tokens = await off_loop(
            len(raw), embeddings.count_tokens, params.inputs, route.served_model, gil=False
        )
        # Rate limits before the budget, as for chat. The estimate stands as the call's
        # token count: it is the tokenizer's count of the very input the upstream bills.
        lease = await deps.limits.acquire(caller, tokens=prompt_tokens, lease_id=ctx.request_id)
        headers = {"x-request-id": ctx.request_id, **lease.headers}
        try:
            hold = Hold(
                route.served_model,
                prompt_tokens,
                max_completion_tokens=OUTPUT_TOKENS_HELD,
                choices=1,
                end_user=params.user,
                candidate_models=route.candidates,
            )
            await authorize(deps, ctx, hold)
            answer = await _embed(deps, ctx, params, raw, prompt_tokens)
        finally:
            await lease.aclose()
        if deps.costs is not None and answer.HasField("usage"):
            headers.update(await deps.costs.headers(caller, answer.model_served, answer.usage))
        return Response(answer.body, media_type="application/json", headers=headers)

    return traced("POST /v1/embeddings", handle)


async def _embed(
    deps: Deps, ctx: CallContext, params: EmbeddingParams, raw: bytes, prompt_tokens: int
) -> router_pb2.EmbedResponse:
    """The upstream's answer to an authorized call (its body, and the usage the router
    recorded); an ApiError, its hold released, when nothing was served."""
    try:
        answer = await deps.router.Embed(
            router_pb2.EmbedRequest(
                request_id=ctx.request_id,
                caller=caller_proto(ctx.caller, params.user),
                model=params.model,
                body=raw,
                prompt_tokens_estimate=prompt_tokens,
                started_at_unix_ms=ctx.started_ms,
            ),
            metadata=telemetry.outgoing_metadata(),
        )
    except grpc.aio.AioRpcError as exc:
        # The router never answered, so it recorded nothing: free the reservation here.
        log.warning("router embed %s failed: %s", ctx.request_id, exc.code())
        await release(deps, ctx.request_id)
        raise unavailable("router") from None
    if answer.WhichOneof("result") != "body":
        # Nothing was served; as for chat, releasing covers the errors the router
        # records nothing for, and a later settlement of a released hold costs nothing.
        await release(deps, ctx.request_id)
        raise error_from_event(answer.error)
    return answer
