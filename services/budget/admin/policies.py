"""Model policies of projects and keys: which models they may call, and the levers
that spend less for the same work (docs/routing.md, "The right model for the work").

Budget's operator actions behind the policy RPCs (`tollgate policy ...` and the
admin API's /policy routes). A change takes effect within a second on every gateway
(its policy cache checks a cheap version of both tables). Only the fields named
change; the others stay.

Project fields (`PROJECT_FIELDS`): `allowed_models` and `preferred_models` (lists of
client-facing model names; empty: no restriction / no preference), `max_tokens` and
`max_prompt_tokens` (caps; None: none), `compact` (prompt compaction), `priority`
(the default priority), `downgrade_at_percent` (1-100; None: never) and
`downgrade_on_forecast`. Key fields (`KEY_FIELDS`): `allowed_models`, `priority`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from services.budget.admin.audit_log import Target, audited
from services.budget.admin.errors import AdminError
from services.budget.admin.keys import get_key
from services.budget.admin.projects import get_project
from tollgate.db import as_utc, utcnow
from tollgate.db.routing_models import KEY_POLICIES, PROJECT_POLICIES, models_of
from tollgate.routing_config import Priority

PROJECT_FIELDS = (
    "allowed_models",
    "preferred_models",
    "max_tokens",
    "max_prompt_tokens",
    "compact",
    "priority",
    "downgrade_at_percent",
    "downgrade_on_forecast",
)
KEY_FIELDS = ("allowed_models", "priority")
MAX_MODELS = 100
MAX_MODEL_CHARS = 200
MAX_CAP = 2**31 - 1
_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


class PolicyError(AdminError):
    """A policy value an operator can fix; the message names the field."""


@dataclass(frozen=True)
class ProjectPolicyInfo:
    project: str
    project_id: str
    allowed_models: tuple[str, ...] = ()
    preferred_models: tuple[str, ...] = ()
    max_tokens: int | None = None
    max_prompt_tokens: int | None = None
    compact: bool = False
    priority: str = ""  # "" means medium
    downgrade_at_percent: int | None = None
    downgrade_on_forecast: bool = False
    updated_at: datetime | None = None


@dataclass(frozen=True)
class KeyPolicyInfo:
    key_id: str
    project_id: str
    allowed_models: tuple[str, ...] = ()
    priority: str = ""
    updated_at: datetime | None = None


def parse_models(name: str, value: Any) -> tuple[str, ...]:
    """A list of model names, or a comma-separated string; empty clears it."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise PolicyError(f"'{name}' must be a list of model names", name)
    models: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise PolicyError(f"'{name}' must be a list of model names", name)
        model = item.strip()
        if "\x00" in model or len(model) > MAX_MODEL_CHARS:
            raise PolicyError(f"'{name}': a model name has a NUL or is too long", name)
        if model and model not in models:
            models.append(model)
    if len(models) > MAX_MODELS:
        raise PolicyError(f"'{name}' may name at most {MAX_MODELS} models", name)
    return tuple(models)


def parse_cap(name: str, value: Any, *, maximum: int = MAX_CAP) -> int | None:
    """A positive whole number up to `maximum`, or None/'none' for no cap."""
    if value is None or (isinstance(value, str) and value.strip().lower() in {"none", ""}):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise PolicyError(f"'{name}' must be a whole number from 1 to {maximum}, or none", name)
    return value


def parse_switch(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise PolicyError(f"'{name}' must be on or off (true or false)", name)


def parse_priority(name: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    try:
        return Priority(str(value).strip().lower()).value
    except ValueError:
        raise PolicyError(f"'{name}' must be high, medium or low", name) from None


def _models_text(models: tuple[str, ...]) -> str:
    return json.dumps(list(models)) if models else ""


def _project_columns(given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(PROJECT_FIELDS))
    if unknown:
        raise PolicyError(f"unknown policy field {unknown[0]!r}", unknown[0])
    parsers = {
        "allowed_models": lambda v: (
            "allowed_models",
            _models_text(parse_models("allowed_models", v)),
        ),
        "preferred_models": lambda v: (
            "preferred_models",
            _models_text(parse_models("preferred_models", v)),
        ),
        "max_tokens": lambda v: ("max_tokens_cap", parse_cap("max_tokens", v)),
        "max_prompt_tokens": lambda v: ("max_prompt_tokens", parse_cap("max_prompt_tokens", v)),
        "compact": lambda v: ("compact_prompts", parse_switch("compact", v)),
        "priority": lambda v: ("default_priority", parse_priority("priority", v)),
        "downgrade_at_percent": lambda v: (
            "downgrade_at_percent",
            parse_cap("downgrade_at_percent", v, maximum=100),
        ),
        "downgrade_on_forecast": lambda v: (
            "downgrade_on_forecast",
            parse_switch("downgrade_on_forecast", v),
        ),
    }
    return dict(parsers[name](value) for name, value in given.items())


def _key_columns(given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(KEY_FIELDS))
    if unknown:
        raise PolicyError(f"unknown key policy field {unknown[0]!r}", unknown[0])
    columns: dict[str, Any] = {}
    if "allowed_models" in given:
        columns["allowed_models"] = _models_text(
            parse_models("allowed_models", given["allowed_models"])
        )
    if "priority" in given:
        columns["default_priority"] = parse_priority("priority", given["priority"])
    return columns


def _upsert(
    conn: Connection, table: Table, where: Any, ids: dict[str, str], values: dict[str, Any]
) -> None:
    if conn.execute(select(table).where(where)).first() is None:
        conn.execute(table.insert().values(**ids, **values, updated_at=utcnow()))
    else:
        conn.execute(table.update().where(where).values(**values, updated_at=utcnow()))


def set_project_policy(engine: Engine, project: str, **given: Any) -> ProjectPolicyInfo:
    """Change the named fields of a project's policy; the others stay."""
    if not given:
        raise PolicyError("name at least one policy field to set")
    columns = _project_columns(given)
    info = get_project(engine, project)
    where = PROJECT_POLICIES.c.project_id == info.id
    target = Target("policy", info.name, info.id)
    with (
        engine.begin() as conn,
        audited(conn, "policy.set", target, PROJECT_POLICIES, where),
    ):
        _upsert(conn, PROJECT_POLICIES, where, {"project_id": info.id}, columns)
    return get_project_policy(engine, info.id)


def get_project_policy(engine: Engine, project: str) -> ProjectPolicyInfo:
    """A project's policy (all defaults when none was set)."""
    info = get_project(engine, project)
    with engine.connect() as conn:
        row = conn.execute(
            select(PROJECT_POLICIES).where(PROJECT_POLICIES.c.project_id == info.id)
        ).first()
        conn.rollback()
    if row is None:
        return ProjectPolicyInfo(info.name, info.id)
    return ProjectPolicyInfo(
        project=info.name,
        project_id=info.id,
        allowed_models=models_of(row.allowed_models),
        preferred_models=models_of(row.preferred_models),
        max_tokens=row.max_tokens_cap,
        max_prompt_tokens=row.max_prompt_tokens,
        compact=bool(row.compact_prompts),
        priority=row.default_priority or "",
        downgrade_at_percent=row.downgrade_at_percent,
        downgrade_on_forecast=bool(row.downgrade_on_forecast),
        updated_at=as_utc(row.updated_at),
    )


def set_key_policy(engine: Engine, key_id: str, **given: Any) -> KeyPolicyInfo:
    """Change the named fields of a key's policy (its allow-list lies within its
    project's: both apply)."""
    if not given:
        raise PolicyError("name at least one key policy field to set")
    columns = _key_columns(given)
    key = get_key(engine, key_id)
    where = KEY_POLICIES.c.key_id == key.id
    target = Target("key_policy", key.id, key.project_id)
    with engine.begin() as conn, audited(conn, "key_policy.set", target, KEY_POLICIES, where):
        _upsert(conn, KEY_POLICIES, where, {"key_id": key.id}, columns)
    return get_key_policy(engine, key.id)


def get_key_policy(engine: Engine, key_id: str) -> KeyPolicyInfo:
    key = get_key(engine, key_id)
    with engine.connect() as conn:
        row = conn.execute(select(KEY_POLICIES).where(KEY_POLICIES.c.key_id == key.id)).first()
        conn.rollback()
    if row is None:
        return KeyPolicyInfo(key.id, key.project_id)
    return KeyPolicyInfo(
        key_id=key.id,
        project_id=key.project_id,
        allowed_models=models_of(row.allowed_models),
        priority=row.default_priority or "",
        updated_at=as_utc(row.updated_at),
    )


def as_dict(info: ProjectPolicyInfo | KeyPolicyInfo) -> dict[str, Any]:
    """The policy as JSON-ready values (lists, ISO time, priority medium when unset)."""
    shown: dict[str, Any] = {}
    for name, value in info.__dict__.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        shown[name] = value
    shown["priority"] = info.priority or Priority.MEDIUM.value
    return shown
