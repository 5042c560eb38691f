"""The schema, shared by every service. Money columns hold integer nano-units
(see tollgate.money); times are timezone-aware UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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


# A project's price multiplier of 1, in billionths (see Project.price_multiplier_nano).
PRICE_MULTIPLIER_ONE = 10**9


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Multiplies every cost of the project (a reseller's markup, a discount), in
    # billionths: 1_000_000_000 is 1, 1_150_000_000 is 1.15. Exact; never a float.
    price_multiplier_nano: Mapped[int] = mapped_column(
        BigInteger, default=PRICE_MULTIPLIER_ONE, server_default=str(PRICE_MULTIPLIER_ONE)
    )


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
    # When an operator last resumed it: spend before this no longer counts toward a pause.
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Key expiry and rotation (migration 0011). After `expires_at` the key is refused
    # (NULL: never). A rotation gives the key a new secret; the old one's hash stays in
    # `previous_key_hash` and keeps working until `previous_expires_at` (the grace).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    previous_key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    previous_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


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
    # Tokens written to the prompt cache; None bills them at the input price.
    cache_write_input_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_output_tokens: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The batch price of Batch API lines (migration 0010); all None: the default rule
    # (services/budget/batch_prices.py). Cached None: the batch input price.
    batch_input_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    batch_output_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    batch_cached_input_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_state_expires", "state", "expires_at"),
        # A month's settled spend of a project without a monthly budget (migration 0002).
        Index("ix_reservations_project_period", "project_id", "period"),
    )

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    key_id: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(7))  # the month it started, budget time zone
    currency: Mapped[str] = mapped_column(String(3))
    amount_nano: Mapped[int] = mapped_column(BigInteger)
    # open -> settled | released | expired
    state: Mapped[str] = mapped_column(String(10))
    cost_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The Batch API batch of a line held at the batch price, "" for a direct call
    # (migration 0010): the line settles at the batch price whatever Settle says.
    batch_id: Mapped[str] = mapped_column(String(64), default="", server_default="")


class LedgerEntry(Base):
    """One row per upstream call; every bill and report is a sum of these rows."""

    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("request_id"),
        Index("ix_ledger_project_started", "project_id", "started_at"),
        Index("ix_ledger_batch_id", "batch_id"),
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
    # Part of prompt_tokens written to the prompt cache, billed at the cache-write price.
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    usage_source: Mapped[str] = mapped_column(String(10))  # provider | estimated
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    # ok | failed | partial | interrupted (services/metering/statuses.py)
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int] = mapped_column(Integer, default=200)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Routing (migration 0008): the deployment ("provider/model") that answered, the
    # upstream attempts made (0 for a cache hit), why the served model is not the one
    # asked (services' RouteReason, lower-case name), and what tollgate's levers
    # saved against the asked model at its whole price (cache, downgrade, rules,
    # prompt compaction). cost_nano + saved_nano is the reference cost.
    deployment: Mapped[str] = mapped_column(String(200), default="", server_default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    route_reason: Mapped[str] = mapped_column(String(16), default="asked", server_default="asked")
    saved_nano: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    compacted_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The Batch API batch this call was a line of, "" for a direct call (migration 0010).
    batch_id: Mapped[str] = mapped_column(String(64), default="", server_default="")


# --- budgets (migration 0002) ---


class Budget(Base):
    """A spending limit on a project, or on one of its keys, for a day, a calendar
    month (in the configured time zone) or for ever. Hard budgets refuse calls that
    would pass them; soft budgets only alert."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("owner_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    # The key's id for a key budget, else the project's: one budget per owner and period.
    owner_id: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(10))  # daily | monthly | total
    amount_nano: Mapped[int] = mapped_column(BigInteger)  # in the project's currency
    hard: Mapped[bool] = mapped_column(Boolean)
    alert_at: Mapped[str] = mapped_column(String(100))  # percents, e.g. "50,80,100"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BudgetCounter(Base):
    """Committed and reserved spend of one budget in one period (`2026-11-30`,
    `2026-11` or `total`): the row a hard budget check locks. The ledger stays the
    truth for bills; this is the enforcement state."""

    __tablename__ = "budget_counters"

    budget_id: Mapped[int] = mapped_column(ForeignKey("budgets.id"), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(10), primary_key=True)
    committed_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_nano: Mapped[int] = mapped_column(BigInteger, default=0)


class ReservationHold(Base):
    """The part of a reservation held against one budget counter, so settlement and
    release move exactly the counters that authorization moved."""

    __tablename__ = "reservation_holds"

    request_id: Mapped[str] = mapped_column(ForeignKey("reservations.request_id"), primary_key=True)
    budget_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_key: Mapped[str] = mapped_column(String(10))
    amount_nano: Mapped[int] = mapped_column(BigInteger)


BUDGETS = cast(Table, Budget.__table__)
BUDGET_COUNTERS = cast(Table, BudgetCounter.__table__)
HOLDS = cast(Table, ReservationHold.__table__)

# --- alerts (migration 0003) ---


class AlertEvent(Base):
    """A budget threshold crossed or a spend spike. Unique per kind, subject, period and
    threshold, so each fires once however many budget replicas see it; then delivered
    to every webhook by whichever replica claims it (claimed_by / lease_until)."""

    __tablename__ = "alert_events"
    __table_args__ = (
        UniqueConstraint("kind", "subject", "period_key", "threshold"),
        Index("ix_alert_events_pending", "done_at", "next_attempt_at"),
        Index("ix_alert_events_project_created", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # threshold | spike | test
    subject: Mapped[str] = mapped_column(String(80))  # budget:<id> | project:<id> | test:<id>
    budget_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    project_id: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    period: Mapped[str] = mapped_column(String(10))  # daily | monthly | total | window
    period_key: Mapped[str] = mapped_column(String(40))
    threshold: Mapped[int] = mapped_column(Integer)  # percent; 0 for spikes
    limit_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    baseline_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    amount_nano: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    message: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AlertDelivery(Base):
    """One attempt to deliver an event to one webhook, successful or not."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_event", "event_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_events.id"))
    webhook: Mapped[str] = mapped_column(String(20))  # fingerprint of the URL, never the URL
    target: Mapped[str] = mapped_column(String(200))  # the URL with its secrets cut out
    format: Mapped[str] = mapped_column(String(10))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


ALERT_EVENTS = cast(Table, AlertEvent.__table__)
ALERT_DELIVERIES = cast(Table, AlertDelivery.__table__)

# --- usage_rollups (migration 0004) ---


class UsageRollup(Base):
    """The ledger summed per UTC day, project, key, model, end user and currency.

    Written in the same transaction as each new ledger row (never for a duplicate), so
    its sums equal the ledger's exactly; reports over whole days read these rows."""

    __tablename__ = "usage_rollups"
    __table_args__ = (Index("ix_usage_rollups_day", "day"),)

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # of started_at, UTC
    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)  # model_served
    end_user: Mapped[str] = mapped_column(String(200), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    # Billed calls (ok or partial) and their tokens; failed calls are counted apart.
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)  # every row's cost


ROLLUPS = cast(Table, UsageRollup.__table__)


# --- price_extras (migration 0005) ---
# Adds prices.cache_write_input_nano, ledger.cache_write_tokens and
# projects.price_multiplier_nano, declared on their classes above.

# --- rate_limits (migration 0006) ---


class RateLimit(Base):
    """Request, token and concurrency limits of a project or of one of its keys; a
    NULL limit is no limit. The gateway keeps the whole table in memory and re-reads
    it when it changes (count and newest `updated_at`)."""

    __tablename__ = "rate_limits"

    # The key's id for a key's limits, else the project's: one row per owner.
    owner_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    rpm: Mapped[int | None] = mapped_column(Integer, nullable=True)  # requests per minute
    tpm: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # tokens per minute
    max_concurrent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


RATE_LIMITS = cast(Table, RateLimit.__table__)

# --- usage_dead_letters (migration 0007) ---
# Also widens ledger.status to 16 characters for `interrupted`.


class UsageDeadLetter(Base):
    """A usage record that could not be written as it came (text the database refuses,
    a field longer than its column, an impossible time). Its money still reached the
    ledger with the offending fields made safe; this row keeps the record exactly as
    it came, and why, for an operator. Written by metering, once per request id."""

    __tablename__ = "usage_dead_letters"
    __table_args__ = (UniqueConstraint("request_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))  # as written to the ledger
    project_id: Mapped[str] = mapped_column(String(40))
    record: Mapped[bytes] = mapped_column(LargeBinary)  # the UsageRecord's protobuf bytes
    error: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When Budget accepted the operator alert; NULL until then (retried on redelivery).
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


DEAD_LETTERS = cast(Table, UsageDeadLetter.__table__)

# The tables themselves, typed, for Core statements (the services use Core, not the ORM).
PROJECTS = cast(Table, Project.__table__)
API_KEYS = cast(Table, ApiKey.__table__)
PRICES = cast(Table, ModelPrice.__table__)
RESERVATIONS = cast(Table, Reservation.__table__)
LEDGER = cast(Table, LedgerEntry.__table__)

# The routing and cost-policy tables (migration 0008) and the audit log (0011) live in
# modules of their own.
from tollgate.db import (  # noqa: E402,F401
    audit_models,
    batch_models,
    responses_models,
    routing_models,
)
