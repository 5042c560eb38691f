"""Operator records as the admin RPCs' messages, and the JSON-like values those
RPCs take (google.protobuf.Value) as Python values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2

from services.budget.admin.budgets import BudgetInfo
from services.budget.admin.keys import KeyInfo, KeyStatus
from services.budget.admin.limits import LimitInfo
from services.budget.admin.policies import KeyPolicyInfo, ProjectPolicyInfo
from services.budget.admin.projects import ProjectInfo
from services.budget.prices import describe
from tollgate.money import Price
from tollgate.routing_config import Priority
from tollgate.v1 import budget_pb2

_STATUSES = {
    KeyStatus.ACTIVE: budget_pb2.KEY_STATUS_ACTIVE,
    KeyStatus.PAUSED: budget_pb2.KEY_STATUS_PAUSED,
    KeyStatus.REVOKED: budget_pb2.KEY_STATUS_REVOKED,
    KeyStatus.EXPIRED: budget_pb2.KEY_STATUS_EXPIRED,
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def project_pb(p: ProjectInfo) -> budget_pb2.Project:
    return budget_pb2.Project(
        id=p.id,
        name=p.name,
        currency=p.currency,
        monthly_budget=p.monthly_budget,
        created_at=p.created_at.isoformat(),
        price_multiplier=p.price_multiplier,
    )


def key_pb(k: KeyInfo) -> budget_pb2.ApiKey:
    return budget_pb2.ApiKey(
        id=k.id,
        project_id=k.project_id,
        name=k.name,
        prefix=k.prefix,
        created_at=k.created_at.isoformat(),
        revoked_at=_iso(k.revoked_at),
        paused_at=_iso(k.paused_at),
        status=_STATUSES[k.status],
        expires_at=_iso(k.expires_at),
        rotated_at=_iso(k.rotated_at),
        previous_expires_at=_iso(k.previous_expires_at),
    )


def budget_pb(b: BudgetInfo) -> budget_pb2.BudgetInfo:
    return budget_pb2.BudgetInfo(
        project=b.project,
        owner=b.owner,
        key_id=b.key_id,
        key_name=b.key_name,
        period=b.period,
        period_key=b.period_key,
        hard=b.hard,
        currency=b.currency,
        amount=b.amount,
        spent=b.spent,
        reserved=b.reserved,
        remaining=b.remaining,
        alert_at=b.alert_at,
        resets=b.resets,
        resets_at=b.resets_at,
    )


def price_pb(price: Price) -> budget_pb2.PriceVersion:
    return budget_pb2.PriceVersion(**describe(price))  # type: ignore[arg-type]


def limit_pb(info: LimitInfo) -> budget_pb2.RateLimit:
    return budget_pb2.RateLimit(
        project=info.project,
        project_id=info.project_id,
        key_id=info.key_id,
        rpm=info.rpm,
        tpm=info.tpm,
        max_concurrent=info.max_concurrent,
        updated_at=info.updated_at,
        owner=info.owner,
    )


def alert_pb(alert: dict[str, Any]) -> budget_pb2.AlertEvent:
    attempts = [budget_pb2.AlertDelivery(**a) for a in alert["attempts"]]
    return budget_pb2.AlertEvent(**{**alert, "attempts": attempts})


def _priority(value: str) -> str:
    return value or Priority.MEDIUM.value


def project_policy_pb(p: ProjectPolicyInfo) -> budget_pb2.ProjectPolicy:
    return budget_pb2.ProjectPolicy(
        project=p.project,
        project_id=p.project_id,
        allowed_models=p.allowed_models,
        preferred_models=p.preferred_models,
        max_tokens=p.max_tokens,
        max_prompt_tokens=p.max_prompt_tokens,
        compact=p.compact,
        priority=_priority(p.priority),
        downgrade_at_percent=p.downgrade_at_percent,
        downgrade_on_forecast=p.downgrade_on_forecast,
        updated_at=_iso(p.updated_at),
    )


def key_policy_pb(p: KeyPolicyInfo) -> budget_pb2.KeyPolicy:
    return budget_pb2.KeyPolicy(
        key_id=p.key_id,
        project_id=p.project_id,
        allowed_models=p.allowed_models,
        priority=_priority(p.priority),
        updated_at=_iso(p.updated_at),
    )


def plain(value: struct_pb2.Value) -> Any:
    """A Value as the JSON it stands for; a whole number stays an int (JSON's 5, not 5.0)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [plain(v) for v in value.list_value.values]
    if kind == "struct_value":
        return {k: plain(v) for k, v in value.struct_value.fields.items()}
    return None
