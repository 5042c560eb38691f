"""routing

Cost optimisation and routing: per-project and per-key model policies, the response
cache, and what each ledger row's routing was (deployment, attempts, cache hit, why
the model changed, what was saved against the asked model, tokens compaction saved).
Old ledger rows were served as asked, by one attempt, and saved nothing.

Ledger columns are added in place (SQLite's ADD COLUMN), as in 0005.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _ledger_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("deployment", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("cache_hit", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("route_reason", sa.String(length=16), nullable=False, server_default="asked"),
        sa.Column("saved_nano", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("compacted_tokens", sa.BigInteger(), nullable=False, server_default="0"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        for column in _ledger_columns():
            batch.add_column(column)
    op.create_table(
        "project_policies",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("allowed_models", sa.Text(), nullable=False, server_default=""),
        sa.Column("preferred_models", sa.Text(), nullable=False, server_default=""),
        sa.Column("max_tokens_cap", sa.Integer(), nullable=True),
        sa.Column("max_prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("compact_prompts", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("default_priority", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("downgrade_at_percent", sa.Integer(), nullable=True),
        sa.Column("downgrade_on_forecast", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_policies_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_policies")),
    )
    op.create_table(
        "key_policies",
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("allowed_models", sa.Text(), nullable=False, server_default=""),
        sa.Column("default_priority", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_key_policies_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_key_policies")),
    )
    op.create_table(
        "response_cache",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "cache_key", name=op.f("pk_response_cache")),
    )
    op.create_index(
        "ix_response_cache_project_created", "response_cache", ["project_id", "created_at"]
    )
    op.create_index("ix_response_cache_expires", "response_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_response_cache_expires", table_name="response_cache")
    op.drop_index("ix_response_cache_project_created", table_name="response_cache")
    op.drop_table("response_cache")
    op.drop_table("key_policies")
    op.drop_table("project_policies")
    for column in reversed(_ledger_columns()):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE ledger DROP COLUMN {column.name}")
        else:
            op.drop_column("ledger", column.name)
