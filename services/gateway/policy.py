"""Which model serves a call, and the project's guards (docs/routing.md, "The right
model for the work").

    wish = requested(request)                  # X-Tollgate-Priority/-Task/-Compact
    plan = plan_call(asked, wish, project, key, rules, known)

In order: the priority is the header's, else the key's default, else the project's,
else medium. A task rule (`X-Tollgate-Task`) names a model outright; then the
priority's rule maps that model to another (one step each, never chained: the
router's YAML `routing:` rules, learnt over Router.ListRoutes). The model chosen must
be allowed by both the project's and the key's allow-lists (empty: any): when a rule
chose a model that is not allowed, the asked model is used; when the asked model is
not allowed either, the project's first allowed preferred model serves the call
(PREFERENCE); with no such model the call is refused with a 403 `model_not_allowed`.

`downgrade_to` is the cheaper mapping Budget may switch a call to once the project
passes its downgrade threshold: the low rule for low calls, the medium rule (else
the low one) for medium calls, none for high calls."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request

from services.gateway.errors import ApiError, bad_request
from services.gateway.policy_cache import KeyRules, ProjectRules
from tollgate.routing_config import Priority, RoutingRules
from tollgate.v1 import common_pb2

PRIORITY_HEADER = "x-tollgate-priority"
TASK_HEADER = "x-tollgate-task"
COMPACT_HEADER = "x-tollgate-compact"
MAX_TASK_CHARS = 200
SWITCHES = {"on": True, "off": False}

PROTO_PRIORITY = {
    Priority.HIGH: common_pb2.PRIORITY_HIGH,
    Priority.MEDIUM: common_pb2.PRIORITY_MEDIUM,
    Priority.LOW: common_pb2.PRIORITY_LOW,
}
ASKED = common_pb2.ROUTE_REASON_ASKED
TASK = common_pb2.ROUTE_REASON_TASK
PRIORITY = common_pb2.ROUTE_REASON_PRIORITY
PREFERENCE = common_pb2.ROUTE_REASON_PREFERENCE
DOWNGRADE = common_pb2.ROUTE_REASON_DOWNGRADE


@dataclass(frozen=True)
class Wish:
    """What a request's headers ask of the policy."""

    priority: Priority | None = None
    task: str | None = None
    compact: bool | None = None  # None: the project's setting


NO_WISH = Wish()


def _header_error(header: str, allowed: str) -> ApiError:
    return bad_request(
        f"The {header} header must be {allowed}.", param=header, code="invalid_header"
    )


def requested(request: Request) -> Wish:
    """The policy headers of a request; a 400 naming a header with a bad value."""
    headers = request.headers
    priority = None
    if (value := headers.get(PRIORITY_HEADER)) is not None:
        try:
            priority = Priority(value.strip().lower())
        except ValueError:
            raise _header_error("X-Tollgate-Priority", "`high`, `medium` or `low`") from None
    task = headers.get(TASK_HEADER)
    if task is not None:
        task = task.strip()
        if not task or len(task) > MAX_TASK_CHARS:
            raise _header_error("X-Tollgate-Task", "a task name of 1 to 200 characters")
    compact = None
    if (value := headers.get(COMPACT_HEADER)) is not None:
        compact = SWITCHES.get(value.strip().lower())
        if compact is None:
            raise _header_error("X-Tollgate-Compact", "`on` or `off`")
    return Wish(priority, task, compact)


def model_not_allowed(model: str) -> ApiError:
    return ApiError(
        403,
        f"This API key may not call the model `{model}`; ask an operator to allow it "
        "(`tollgate policy set`).",
        type="invalid_request_error",
        param="model",
        code="model_not_allowed",
    )


def allows(project: ProjectRules, key: KeyRules, model: str) -> bool:
    return (not project.allowed or model in project.allowed) and (
        not key.allowed or model in key.allowed
    )


def allowed_models(project: ProjectRules, key: KeyRules, models: Collection[str]) -> list[str]:
    """What `/v1/models` lists for this key."""
    return sorted(m for m in models if allows(project, key, m))


@dataclass(frozen=True)
class Plan:
    asked: str
    model: str  # the client-facing model to call
    reason: common_pb2.RouteReason
    priority: Priority
    downgrade_to: str | None = None
    compact: bool = False

    def downgraded(self) -> Plan:
        assert self.downgrade_to is not None
        return replace(self, model=self.downgrade_to, reason=DOWNGRADE, downgrade_to=None)

    def request_fields(self) -> dict[str, Any]:
        """The ChatRequest fields that say how the model was chosen."""
        return {
            "model": self.model,
            "model_asked": self.asked if self.model != self.asked else "",
            "route_reason": self.reason,
            "priority": PROTO_PRIORITY[self.priority],
        }


def plan_call(
    asked: str,
    wish: Wish,
    project: ProjectRules,
    key: KeyRules,
    rules: RoutingRules,
    known: Callable[[str], bool],
) -> Plan:
    """The model to call for `asked` (see the module's docstring); 403 when none may."""
    priority = wish.priority or key.priority or project.priority or Priority.MEDIUM
    model, reason = asked, ASKED
    if wish.task and (task_model := rules.tasks.get(wish.task)):
        model, reason = task_model, TASK
    mapped = rules.priorities.get(priority, {}).get(model)
    if mapped and mapped != model:
        model, reason = mapped, PRIORITY
    if not allows(project, key, model):
        if reason != ASKED and allows(project, key, asked):
            model, reason = asked, ASKED
        else:
            preferred = [m for m in project.preferred if allows(project, key, m) and known(m)]
            if not preferred:
                raise model_not_allowed(asked)
            model, reason = preferred[0], PREFERENCE
    compact = project.compact if wish.compact is None else wish.compact
    cheaper = _cheaper(project, key, rules, model, priority)
    return Plan(asked, model, reason, priority, cheaper, compact)


def _cheaper(
    project: ProjectRules, key: KeyRules, rules: RoutingRules, model: str, priority: Priority
) -> str | None:
    if not project.downgrade or priority is Priority.HIGH:
        return None
    order = [Priority.LOW] if priority is Priority.LOW else [Priority.MEDIUM, Priority.LOW]
    for level in order:
        cheaper = rules.priorities.get(level, {}).get(model)
        if cheaper and cheaper != model and allows(project, key, cheaper):
            return cheaper
    return None


def check_max_tokens(project: ProjectRules, max_tokens: int, param: str = "max_tokens") -> None:
    """A 400 naming the field when the request asks for more output than the cap."""
    cap = project.max_tokens
    if cap is not None and max_tokens > cap:
        raise bad_request(
            f"`{param}` is {max_tokens}; this project allows at most {cap}.",
            param=param,
            code="max_tokens_exceeded",
        )


def check_prompt_tokens(project: ProjectRules, prompt_tokens: int) -> None:
    cap = project.max_prompt_tokens
    if cap is not None and prompt_tokens > cap:
        raise bad_request(
            f"The prompt is {prompt_tokens} tokens; this project allows at most {cap}.",
            param="messages",
            code="prompt_too_long",
        )
