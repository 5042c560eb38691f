"""price extras

A cache-write price per model version (NULL: the same as input), the tokens each
ledger row wrote to the prompt cache (old rows wrote none), and a price multiplier per
project in billionths (old projects pay list price: 1_000_000_000).

Every column is added in place (SQLite's ADD COLUMN): rebuilding `projects` would
fail while other tables' foreign keys point at it (see 0002).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MULTIPLIER_ONE = str(10**9)


def upgrade() -> None:
    with op.batch_alter_table("prices") as batch:
        batch.add_column(sa.Column("cache_write_input_nano", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(
            sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column(
                "price_multiplier_nano",
                sa.BigInteger(),
                nullable=False,
                server_default=MULTIPLIER_ONE,
            )
        )


def _drop_column(table: str, column: str) -> None:
    # In place on SQLite (3.35+) too, for the reason in the module docstring.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)


def downgrade() -> None:
    _drop_column("projects", "price_multiplier_nano")
    _drop_column("ledger", "cache_write_tokens")
    _drop_column("prices", "cache_write_input_nano")
