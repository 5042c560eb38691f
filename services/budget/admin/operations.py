"""Projects and keys in one namespace, for tests and tools that set up a database
directly (the admin API and the CLI call Budget's admin RPCs instead)."""

from __future__ import annotations

from services.budget.admin.errors import AdminError, AlreadyExists, NotFound
from services.budget.admin.keys import (
    KeyInfo,
    KeyStatus,
    NewKey,
    create_key,
    get_key,
    list_keys,
    resume_key,
    revoke_key,
)
from services.budget.admin.projects import (
    ProjectInfo,
    create_project,
    get_project,
    list_projects,
    set_monthly_budget,
    set_price_multiplier,
)

__all__ = [
    "AdminError",
    "AlreadyExists",
    "KeyInfo",
    "KeyStatus",
    "NewKey",
    "NotFound",
    "ProjectInfo",
    "create_key",
    "create_project",
    "get_key",
    "get_project",
    "list_keys",
    "list_projects",
    "resume_key",
    "revoke_key",
    "set_monthly_budget",
    "set_price_multiplier",
]
