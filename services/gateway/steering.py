"""One chat call under its project's model policy, before anything is reserved: the
model that will serve it (policy.py), the guards (a 400 naming `param` before any
upstream call), the `max_tokens` cap written into a request that set none, and
prompt compaction (compaction.py) with the prompt tokens it saved."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from services.gateway.chat_body import ChatBody
from services.gateway.compaction import compact_messages
from services.gateway.context import CallContext
from services.gateway.deps import Deps
from services.gateway.errors import unknown_model
from services.gateway.policy import Plan, check_max_tokens, check_prompt_tokens, plan_call
from services.gateway.policy_cache import (
    NO_KEY_RULES,
    NO_PROJECT_RULES,
    KeyRules,
    PolicyCache,
    ProjectRules,
)
from services.gateway.reserve import Hold
from services.gateway.validation import ChatParams, off_loop
from tollgate import tokens
from tollgate.config import Route


@dataclass(frozen=True)
class Steered:
    plan: Plan
    route: Route
    downgrade_route: Route | None  # the cheaper route Budget may switch the call to
    body: ChatBody  # the body to send (compacted, capped)
    prompt_tokens: int
    compacted_tokens: int = 0

    @property
    def params(self) -> ChatParams:
        return self.body.params

    def hold(self) -> Hold:
        """What Budget reserves for the call: its worst case at the model chosen."""
        return Hold(
            self.route.served_model,
            self.prompt_tokens,
            max_completion_tokens=self.params.max_tokens,
            choices=self.params.n,
            end_user=self.params.user,
            downgrade_model=self.downgrade_route.served_model if self.downgrade_route else "",
            candidate_models=self.route.candidates,
            downgrade_candidate_models=(
                self.downgrade_route.candidates if self.downgrade_route else ()
            ),
        )


async def policy_rules(
    policies: PolicyCache | None, project_id: str, key_id: str
) -> tuple[ProjectRules, KeyRules]:
    if policies is None:
        return NO_PROJECT_RULES, NO_KEY_RULES
    return await policies.rules(project_id, key_id)


async def _count(body: ChatBody, messages: list[Any], model: str) -> int:
    return await off_loop(
        len(body.raw), tokens.count_chat_prompt, messages, model, body.params.tools, gil=False
    )


async def steer(deps: Deps, ctx: CallContext, body: ChatBody) -> Steered:
    caller = ctx.caller
    project, key = await policy_rules(deps.policies, caller.project_id, caller.key_id)
    models = deps.models
    rules = await models.routing_rules()
    params = body.params
    plan = plan_call(params.model, ctx.wish, project, key, rules, lambda m: m in models.routes)
    route = await models.get(plan.model)
    if route is None:
        raise unknown_model(plan.model)
    downgrade = await models.get(plan.downgrade_to) if plan.downgrade_to else None
    field = "max_completion_tokens" if "max_completion_tokens" in body.fields else "max_tokens"
    check_max_tokens(project, params.max_tokens, field)
    changes: dict[str, Any] = {}
    if project.max_tokens is not None and params.max_tokens == 0:
        changes["max_tokens"] = project.max_tokens
        params = replace(params, max_tokens=project.max_tokens)
    prompt_tokens = await _count(body, params.messages, route.served_model)
    saved = 0
    if plan.compact:
        compacted = compact_messages(params.messages)
        if compacted.changed:
            after = await _count(body, compacted.messages, route.served_model)
            saved = max(prompt_tokens - after, 0)
            prompt_tokens = after
            changes["messages"] = compacted.messages
            params = replace(params, messages=compacted.messages)
    check_prompt_tokens(project, prompt_tokens)
    if changes:
        body = await off_loop(len(body.raw), body.rewritten, changes, params)
    return Steered(plan, route, downgrade, body, prompt_tokens, saved)
