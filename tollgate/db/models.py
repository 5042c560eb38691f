"""The schema, shared by every service. Money columns hold integer nano-units
(see tollgate.money); times are timezone-aware UTC."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    # Hard monthly limit in nano-units of `currency`; None means no limit.
    monthly_budget_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The secret's first characters, to tell keys apart in listings.
    prefix: Mapped[str] = mapped_column(String(20))
    # SHA-256 of the whole secret; the secret itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Set when a spike alert pauses the key; calls are refused until an operator resumes it.
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ModelPrice(Base):
    """One version of a model's price; the version in force when a call started bills it."""

    __tablename__ = "prices"
    __table_args__ = (Index("ix_prices_model_effective", "model", "effective_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    input_nano: Mapped[int] = mapped_column(BigInteger)  # per million tokens
    output_nano: Mapped[int] = mapped_column(BigInteger)
    cached_input_nano: Mapped[int] = mapped_column(BigInteger)
    max_output_tokens: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SpendCounter(Base):
    """Committed and reserved spend of a project in one period: the row a hard budget
    check locks. The ledger stays the truth for bills; this is the enforcement state."""

    __tablename__ = "spend_counters"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    committed_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_nano: Mapped[int] = mapped_column(BigInteger, default=0)


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_state_expires", "state", "expires_at"),)

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    key_id: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(7))
    currency: Mapped[str] = mapped_column(String(3))
    amount_nano: Mapped[int] = mapped_column(BigInteger)
    # open -> settled | released | expired
    state: Mapped[str] = mapped_column(String(10))
    cost_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    """One row per upstream call; every bill and report is a sum of these rows."""

    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("request_id"),
        Index("ix_ledger_project_started", "project_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(40))
    end_user: Mapped[str] = mapped_column(String(200), default="")
    model_requested: Mapped[str] = mapped_column(String(200))
    model_served: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(100))
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    usage_source: Mapped[str] = mapped_column(String(10))  # provider | estimated
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))  # ok | failed | partial
    http_status: Mapped[int] = mapped_column(Integer, default=200)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- budgets (migration 0002) ---

# --- alerts (migration 0003) ---

# --- usage_rollups (migration 0004) ---

# --- price_extras (migration 0005) ---

# --- rate_limits (migration 0006) ---

# The tables themselves, typed, for Core statements (the services use Core, not the ORM).
PROJECTS = cast(Table, Project.__table__)
API_KEYS = cast(Table, ApiKey.__table__)
PRICES = cast(Table, ModelPrice.__table__)
SPEND_COUNTERS = cast(Table, SpendCounter.__table__)
RESERVATIONS = cast(Table, Reservation.__table__)
LEDGER = cast(Table, LedgerEntry.__table__)
