"""What Authorize says when it refuses a call: one message a reason, naming what the
operator can do about it. Never a secret: keys are named by id and name only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row

from services.budget.budgets import BudgetRule, Counter
from services.budget.holds import CallSize
from services.budget.periods import describe_reset, resets_at
from tollgate.db import as_utc
from tollgate.money import format_amount

KEY_REVOKED = "This API key has been revoked."
KEY_EXPIRED = "This API key has expired."


@dataclass(frozen=True)
class AuthorizedKey:
    """The project and key a call is authorized for, as read at authorization: the names
    a refusal's message uses. (The caller itself is the contract's `common_pb2.Caller`.)"""

    project: Row[Any]
    key_id: str
    key_name: str


def key_paused(paused_at: datetime) -> str:
    return (
        f"This API key has been paused since {as_utc(paused_at):%Y-%m-%d %H:%M} UTC; "
        "an operator can resume it."
    )


def not_priced(model: str) -> str:
    return (
        f"The model `{model}` has no price yet, so tollgate cannot bill it. "
        f"An operator can set one with `tollgate price set {model} ...`."
    )


def fallback_not_priced(model: str, candidate: str) -> str:
    return (
        f"The model `{candidate}`, which may serve calls to `{model}` when a deployment "
        "fails (a deployment or fallback of its route), has no price yet, so tollgate "
        f"could not bill it. An operator can set one with `tollgate price set {candidate} ...`."
    )


def _worst_case(size: CallSize | None) -> tuple[str, str]:
    """What a call's worst case counts, and how to make it smaller."""
    if size is None:
        return "", "Lower max_tokens so its worst case fits"
    choices = f" for each of {size.choices} choices" if size.choices > 1 else ""
    if size.max_completion_tokens == 0:
        return (
            f" ({size.prompt_tokens:,} prompt tokens and the model's whole output cap"
            f"{choices}, as max_tokens was not set)",
            "Set max_tokens to the most output the call needs, so its worst case fits",
        )
    return (
        f" ({size.prompt_tokens:,} prompt tokens and up to {size.max_completion_tokens:,} "
        f"output tokens{choices})",
        "Lower max_tokens (or shorten the prompt) so its worst case fits",
    )


def budget_exceeded(
    caller: AuthorizedKey,
    rule: BudgetRule,
    counter: Counter,
    amount: int,
    key: str,
    zone: ZoneInfo,
    size: CallSize | None = None,
) -> str:
    """Why a call does not fit a hard budget: the budget is used up, or (with room
    left) the call's own worst case is more than the room, and how it could fit."""
    c = caller.project.currency
    project = f"project '{caller.project.name}'"
    if rule.key_id is None:
        owner = project.capitalize()
    else:
        label = f"'{caller.key_name}' ({caller.key_id})" if caller.key_name else caller.key_id
        owner = f"Key {label} of {project}"
    if rule.period == "total":
        span = "lifetime budget"
        resets = "This budget never resets; an operator can raise it with `tollgate budget set`."
    else:
        span = f"{rule.period} budget"
        resets = f"The budget resets at {describe_reset(resets_at(rule.period, key, zone))}."
    when = "" if rule.period == "total" else f" for {key}"
    spent = (
        f"{c} {format_amount(counter.committed_nano)} spent and "
        f"{c} {format_amount(counter.reserved_nano)} held by calls in flight"
    )
    left = rule.amount_nano - counter.committed_nano - counter.reserved_nano
    if left > 0:  # not reached: the call's worst case is what does not fit
        counts, fit = _worst_case(size)
        return (
            f"{owner} has {c} {format_amount(left)} left of its {span} of {c} "
            f"{format_amount(rule.amount_nano)}{when} ({spent}), and this call may cost up "
            f"to {c} {format_amount(amount)}{counts}. {fit}, or ask an operator to raise "
            f"the budget. {resets}"
        )
    return (
        f"{owner} has reached its {span} of {c} {format_amount(rule.amount_nano)}{when}: "
        f"{spent}; this call may cost up to {c} {format_amount(amount)}. {resets}"
    )
