"""The audit log of operator changes (migration 0011), written by Budget in the same
transaction as each change it records: no change without its row, no row without its
change. Key expiry and rotation add columns to `api_keys` (declared on `ApiKey`)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from tollgate.db.models import Base


class AuditEvent(Base):
    """One operator change: who made it, what it was, its target, and the changed
    object before and after as JSON (never a key's secret or hash)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_project_id", "project_id", "id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # admin:<fingerprint of the admin token> | cli:<OS user> | internal[:<name>]
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))  # e.g. budget.set, price.set, key.rotate
    target_kind: Mapped[str] = mapped_column(String(20))  # project, key, budget, price...
    target: Mapped[str] = mapped_column(String(250))  # e.g. acme/monthly, gpt-4o, key_...
    # The project the change belongs to; NULL for suite-wide changes (prices).
    project_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    before: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON; NULL: none
    after: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON; NULL: deleted


AUDIT_LOG = cast(Table, AuditEvent.__table__)
