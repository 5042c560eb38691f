"""usage dead letters

A table for usage records that could not be written as they came (kept as raw
protobuf bytes with the error; their money reaches the ledger with the offending
fields made safe), and ledger.status widened to 16 characters for `interrupted`
(a call whose router died in flight, settled from its open-call file).

On SQLite the widening rebuilds the ledger table (batch mode); SQLite does not
enforce the length, so old rows are untouched either way.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_dead_letters")),
        sa.UniqueConstraint("request_id", name=op.f("uq_usage_dead_letters_request_id")),
    )
    with op.batch_alter_table("ledger") as batch:
        batch.alter_column("status", existing_type=sa.String(length=10), type_=sa.String(length=16))


def downgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.alter_column("status", existing_type=sa.String(length=16), type_=sa.String(length=10))
    op.drop_table("usage_dead_letters")
