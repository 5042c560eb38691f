"""rate limits

Requests per minute, tokens per minute and concurrent requests of a project or a key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.BigInteger(), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_rate_limits_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_rate_limits_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_rate_limits")),
    )
    with op.batch_alter_table("rate_limits") as batch:
        batch.create_index(batch.f("ix_rate_limits_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_limits") as batch:
        batch.drop_index(batch.f("ix_rate_limits_project_id"))
    op.drop_table("rate_limits")
