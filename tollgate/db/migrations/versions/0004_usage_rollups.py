"""usage rollups

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The ledger as it stands at this revision (no cache_write_tokens yet: old rows have none).
_BILLED = "status IN ('ok', 'partial')"
_BACKFILL = f"""
INSERT INTO usage_rollups (
    project_id, day, key_id, model, end_user, currency,
    requests, failed_requests, prompt_tokens, completion_tokens, cached_tokens,
    reasoning_tokens, cache_write_tokens, cost_nano
)
SELECT
    project_id, {{day}}, key_id, model_served, end_user, currency,
    SUM(CASE WHEN {_BILLED} THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_BILLED} THEN 0 ELSE 1 END),
    SUM(CASE WHEN {_BILLED} THEN prompt_tokens ELSE 0 END),
    SUM(CASE WHEN {_BILLED} THEN completion_tokens ELSE 0 END),
    SUM(CASE WHEN {_BILLED} THEN cached_tokens ELSE 0 END),
    SUM(CASE WHEN {_BILLED} THEN reasoning_tokens ELSE 0 END),
    0,
    SUM(cost_nano)
FROM ledger
GROUP BY project_id, {{day}}, key_id, model_served, end_user, currency
"""


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("end_user", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("failed_requests", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "project_id",
            "day",
            "key_id",
            "model",
            "end_user",
            "currency",
            name=op.f("pk_usage_rollups"),
        ),
    )
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_usage_rollups_day", ["day"], unique=False)
    # Stored times are UTC; SQLite keeps them as "YYYY-MM-DD HH:MM:SS.ffffff" text.
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "date(started_at)" if sqlite else "CAST(started_at AT TIME ZONE 'UTC' AS DATE)"
    op.execute(_BACKFILL.format(day=day))


def downgrade() -> None:
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_rollups_day")
    op.drop_table("usage_rollups")
