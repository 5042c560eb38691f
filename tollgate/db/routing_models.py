"""Tables of cost optimisation and routing (migration 0008): per-project and per-key
model policies (written by Budget, the owner of projects and keys) and the response
cache (written by the router)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tollgate.db.models import Base


class ProjectPolicy(Base):
    """What a project may call and how tollgate saves it money. Model lists are JSON
    arrays of client-facing model names; empty text means no restriction."""

    __tablename__ = "project_policies"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    allowed_models: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Tried in order when the client's model is not allowed (or not named).
    preferred_models: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Guards, refused with a 400 before any upstream call; NULL: no cap.
    max_tokens_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Fold runs of whitespace and drop empty messages (never changes words).
    compact_prompts: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # high | medium | low, or "" (medium).
    default_priority: Mapped[str] = mapped_column(String(8), default="", server_default="")
    # From this percentage of a hard budget, low and medium calls take their cheaper
    # mapping; NULL: never. `downgrade_on_forecast`: also when the month-end forecast
    # passes the monthly budget.
    downgrade_at_percent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    downgrade_on_forecast: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KeyPolicy(Base):
    """A key's own allow-list (within its project's) and default priority."""

    __tablename__ = "key_policies"

    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    allowed_models: Mapped[str] = mapped_column(Text, default="", server_default="")
    default_priority: Mapped[str] = mapped_column(String(8), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CachedResponse(Base):
    """One cached answer of one project (never shared across projects): the
    non-streaming response body and its usage; a streaming request is answered by
    replaying it as chunks. `cache_key` is a SHA-256 of the served model and every
    request parameter that changes the answer."""

    __tablename__ = "response_cache"
    __table_args__ = (
        Index("ix_response_cache_project_created", "project_id", "created_at"),
        Index("ix_response_cache_expires", "expires_at"),
    )

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


PROJECT_POLICIES = cast(Table, ProjectPolicy.__table__)
KEY_POLICIES = cast(Table, KeyPolicy.__table__)


def models_of(text: str | None) -> tuple[str, ...]:
    """A policy's stored model list (JSON array text; empty: none)."""
    if not text:
        return ()
    loaded = json.loads(text)
    return tuple(str(m) for m in loaded) if isinstance(loaded, list) else ()


RESPONSE_CACHE = cast(Table, CachedResponse.__table__)
