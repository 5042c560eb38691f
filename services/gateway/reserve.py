"""Budget's side of a call: reserve its worst case before it runs (Authorize), and
free the reservation (Release) when the router recorded nothing for it.

A call the router records is settled by metering, which frees its hold; a released
hold that is later settled costs nothing more, so releasing is always safe.

Where Budget holds nothing (no hard budget applies), its ALLOWED answer says how long
it may be reused for the same key and call shape (`reuse_ms`, at most a second): such
calls skip the hop (decisions.py) and run unreserved, as they would have anyway."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from services.gateway.auth import EXPIRED_MESSAGE, Verdict
from services.gateway.authorizer import AuthorizeFailed
from services.gateway.caller import caller_proto
from services.gateway.context import CallContext
from services.gateway.decisions import Shape
from services.gateway.deps import Deps
from services.gateway.errors import ApiError, bad_request, budget_exceeded, invalid_key, unavailable
from tollgate.v1 import budget_pb2

log = logging.getLogger(__name__)

RELEASE_TIMEOUT_SECONDS = 5.0
Decision = budget_pb2.AuthorizeResponse


@dataclass(frozen=True)
class Hold:
    """What a call asks Budget to reserve: its worst case at `served_model`."""

    served_model: str
    prompt_tokens: int
    max_completion_tokens: int  # 0: the model's whole output cap
    choices: int
    end_user: str = ""
    downgrade_model: str = ""  # the cheaper model Budget may switch the call to
    # Every upstream model a fallback may serve the call with (Budget holds the dearest).
    candidate_models: tuple[str, ...] = ()
    downgrade_candidate_models: tuple[str, ...] = ()
    # A Batch API line: its batch (held and billed at the batch price) and how long
    # the hold lasts (the batch's window; 0: Budget's default).
    batch_id: str = ""
    hold_seconds: int = 0

    def shape(self, key_id: str) -> Shape | None:
        """What a reusable answer is kept under; None for a batch line (never reused)."""
        if self.batch_id:
            return None
        return (
            key_id,
            self.served_model,
            self.candidate_models,
            self.downgrade_model,
            self.downgrade_candidate_models,
        )


async def authorize(deps: Deps, ctx: CallContext, hold: Hold) -> bool:
    """Reserve the call's worst case with Budget; ApiError when it may not run. True
    when Budget answered DOWNGRADED: the call is reserved at `hold.downgrade_model`
    and must use it."""
    shape = hold.shape(ctx.caller.key_id)
    if shape is not None and deps.decisions.allowed(shape):
        return False
    try:
        answer = await deps.authorizer.authorize(
            budget_pb2.AuthorizeRequest(
                request_id=ctx.request_id,
                caller=caller_proto(ctx.caller, hold.end_user),
                model=hold.served_model,
                prompt_tokens_estimate=hold.prompt_tokens,
                max_completion_tokens=hold.max_completion_tokens,
                choices=hold.choices,
                downgrade_model=hold.downgrade_model,
                candidate_models=hold.candidate_models,
                downgrade_candidate_models=hold.downgrade_candidate_models,
                batch_id=hold.batch_id,
                hold_seconds=hold.hold_seconds,
            )
        )
    except AuthorizeFailed as exc:
        log.warning("authorize %s failed: %s", ctx.request_id, exc.code)
        raise unavailable("budget") from None
    if answer.decision == Decision.ALLOWED:
        if shape is not None:
            deps.decisions.keep(shape, answer.reuse_ms)
        return False
    if answer.decision == Decision.DOWNGRADED and hold.downgrade_model:
        return True
    if answer.decision == Decision.KEY_REVOKED:
        deps.keys.forget(ctx.secret)
        raise invalid_key("This API key has been revoked.")
    if answer.decision == Decision.KEY_EXPIRED:
        deps.keys.forget(ctx.secret, Verdict.EXPIRED)
        raise invalid_key(EXPIRED_MESSAGE)
    if answer.decision == Decision.KEY_PAUSED:
        message = answer.message or "This API key is paused; an operator can resume it."
        raise ApiError(403, message, type="permission_error", code="key_paused")
    if answer.decision == Decision.BUDGET_EXCEEDED:
        raise budget_exceeded(answer.message)
    if answer.decision == Decision.MODEL_NOT_PRICED:
        raise bad_request(answer.message, param="model", code="model_not_priced")
    raise unavailable("budget")


async def release(deps: Deps, request_id: str) -> None:
    try:
        await deps.budget.Release(
            budget_pb2.ReleaseRequest(request_id=request_id), timeout=RELEASE_TIMEOUT_SECONDS
        )
    except grpc.aio.AioRpcError:  # the reservation expires on its own
        log.warning("release of %s failed; it will expire", request_id)
