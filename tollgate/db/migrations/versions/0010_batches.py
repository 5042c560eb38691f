"""batches

Files and batches of the Batch API (issue 13): written by the router, per project.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _batch_tables_upgrade()
    _batch_money_upgrade()


def downgrade() -> None:
    _batch_money_downgrade()
    _batch_tables_downgrade()


# --- Files, batches and their lines (written by the router) ---


def _when(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _batch_tables_upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _when("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_index("ix_files_project_created", "files", ["project_id", "created_at"])
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint", sa.String(length=40), nullable=False),
        sa.Column("input_file_id", sa.String(length=40), nullable=False),
        sa.Column("completion_window", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("errors_json", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("output_file_id", sa.String(length=40), nullable=True),
        sa.Column("error_file_id", sa.String(length=40), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("completed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        _when("in_progress_at"),
        _when("finalizing_at"),
        _when("completed_at"),
        _when("failed_at"),
        _when("expired_at"),
        _when("cancelling_at"),
        _when("cancelled_at"),
        _when("finalize_until"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_index("ix_batches_project_created", "batches", ["project_id", "created_at"])
    op.create_index("ix_batches_status", "batches", ["status"])
    op.create_table(
        "batch_lines",
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("custom_id", sa.String(length=512), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("end_user", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=False, server_default=""),
        _when("lease_until"),
        sa.Column("status_code", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("output", sa.LargeBinary(), nullable=True),
        sa.Column("released", sa.Boolean(), nullable=False, server_default="0"),
        _when("finished_at"),
        sa.PrimaryKeyConstraint("batch_id", "line", name=op.f("pk_batch_lines")),
    )
    op.create_index("ix_batch_lines_state_lease", "batch_lines", ["state", "lease_until"])
    op.create_index("ix_batch_lines_batch_state", "batch_lines", ["batch_id", "state"])


def _batch_tables_downgrade() -> None:
    op.drop_index("ix_batch_lines_batch_state", table_name="batch_lines")
    op.drop_index("ix_batch_lines_state_lease", table_name="batch_lines")
    op.drop_table("batch_lines")
    op.drop_index("ix_batches_status", table_name="batches")
    op.drop_index("ix_batches_project_created", table_name="batches")
    op.drop_table("batches")
    op.drop_index("ix_files_project_created", table_name="files")
    op.drop_table("files")


# --- The Batch API's money (written by Budget and metering, not the router) ---
# Each price version's own batch price per million tokens (NULL: the default rule,
# services/budget/batch_prices.py), and the batch each ledger row was a line of
# ("" for a direct call; old rows were direct), indexed to sum a batch's bill; and
# the batch each reservation holds a line of, so the line settles at the batch price
# it was held at. Columns are added in place (SQLite's ADD COLUMN), as in 0005.

_BATCH_PRICES = ("batch_input_nano", "batch_output_nano", "batch_cached_input_nano")


def _batch_money_upgrade() -> None:
    with op.batch_alter_table("prices") as batch:
        for name in _BATCH_PRICES:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(
            sa.Column("batch_id", sa.String(length=64), nullable=False, server_default="")
        )
    op.create_index("ix_ledger_batch_id", "ledger", ["batch_id"])
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(
            sa.Column("batch_id", sa.String(length=64), nullable=False, server_default="")
        )


def _drop_column(table: str, column: str) -> None:
    # In place on SQLite (3.35+) too, as in 0005.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)


def _batch_money_downgrade() -> None:
    _drop_column("reservations", "batch_id")
    op.drop_index("ix_ledger_batch_id", table_name="ledger")
    _drop_column("ledger", "batch_id")
    for name in reversed(_BATCH_PRICES):
        _drop_column("prices", name)
