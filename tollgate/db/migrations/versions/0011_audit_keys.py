"""audit_keys

The audit log of admin changes and key expiry and rotation (issue 11): written by Budget.

`api_keys` gains an expiry (NULL: never), and what a rotation leaves: the previous
secret's hash, which keeps working until `previous_expires_at` (the grace), and when
the key was last rotated. Columns are added in place (SQLite's ADD COLUMN), as in 0005.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _key_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_key_hash", sa.String(length=64), nullable=True),
        sa.Column("previous_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        for column in _key_columns():
            batch.add_column(column)
    op.create_index(
        op.f("ix_api_keys_previous_key_hash"), "api_keys", ["previous_key_hash"], unique=False
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=250), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_project_id", "audit_log", ["project_id", "id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_project_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_api_keys_previous_key_hash"), table_name="api_keys")
    for column in reversed(_key_columns()):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE api_keys DROP COLUMN {column.name}")
        else:
            op.drop_column("api_keys", column.name)
