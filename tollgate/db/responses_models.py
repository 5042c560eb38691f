"""The stored Responses API responses (migration 0009), written only by the router's
ResponseStore: one row a response, keyed by project and response id, so a project
never finds another's; rows past `expires_at` are never returned and are swept."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, DateTime, Index, LargeBinary, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from tollgate.db.models import Base


class StoredResponseRow(Base):
    __tablename__ = "stored_responses"
    __table_args__ = (Index("ix_stored_responses_expires", "expires_at"),)

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    response_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    response: Mapped[bytes] = mapped_column(LargeBinary)  # the response object (JSON)
    input_items: Mapped[bytes] = mapped_column(LargeBinary)  # the conversation (JSON array)
    upstream_held: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


STORED_RESPONSES = cast(Table, StoredResponseRow.__table__)
