"""budgets

Several budgets per project or key (daily, monthly, total; hard or soft) replace the
one hard monthly limit per project: each project's monthly_budget_nano becomes a
monthly hard project budget, its spend counters become that budget's counters, and
its open reservations hold against them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 22:30:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEFAULT_ALERT_AT = "50,80,100"


def _create_tables() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("amount_nano", sa.BigInteger(), nullable=False),
        sa.Column("hard", sa.Boolean(), nullable=False),
        sa.Column("alert_at", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_budgets_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_budgets_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("owner_id", "period", name=op.f("uq_budgets_owner_id")),
    )
    with op.batch_alter_table("budgets") as batch:
        batch.create_index(batch.f("ix_budgets_project_id"), ["project_id"], unique=False)
    op.create_table(
        "budget_counters",
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=10), nullable=False),
        sa.Column("committed_nano", sa.BigInteger(), nullable=False),
        sa.Column("reserved_nano", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budgets.id"], name=op.f("fk_budget_counters_budget_id_budgets")
        ),
        sa.PrimaryKeyConstraint("budget_id", "period_key", name=op.f("pk_budget_counters")),
    )
    op.create_table(
        "reservation_holds",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=10), nullable=False),
        sa.Column("amount_nano", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["reservations.request_id"],
            name=op.f("fk_reservation_holds_request_id_reservations"),
        ),
        sa.PrimaryKeyConstraint("request_id", "budget_id", name=op.f("pk_reservation_holds")),
    )


def _move_monthly_limits() -> None:
    now = datetime.now(UTC)
    op.execute(
        sa.text(
            "INSERT INTO budgets (project_id, key_id, owner_id, period, amount_nano, hard, "
            "alert_at, created_at) "
            "SELECT id, NULL, id, 'monthly', monthly_budget_nano, :hard, :alert_at, :now "
            "FROM projects WHERE monthly_budget_nano IS NOT NULL"
        ).bindparams(hard=True, alert_at=DEFAULT_ALERT_AT, now=now)
    )
    op.execute(
        "INSERT INTO budget_counters (budget_id, period_key, committed_nano, reserved_nano) "
        "SELECT b.id, c.period, c.committed_nano, c.reserved_nano "
        "FROM spend_counters c JOIN budgets b ON b.project_id = c.project_id"
    )
    op.execute(
        "INSERT INTO reservation_holds (request_id, budget_id, period_key, amount_nano) "
        "SELECT r.request_id, b.id, r.period, r.amount_nano "
        "FROM reservations r JOIN budgets b ON b.project_id = r.project_id "
        "WHERE r.state = 'open' AND r.amount_nano > 0"
    )


def _drop_monthly_budget_column() -> None:
    """SQLite's batch mode would rebuild `projects` (copy, drop, rename), and dropping a
    table that api_keys, reservations and budgets rows point at fails while foreign
    keys are on (they cannot be switched off inside the migration's transaction).
    SQLite has dropped a plain column in place since 3.35."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE projects DROP COLUMN monthly_budget_nano")
    else:
        op.drop_column("projects", "monthly_budget_nano")


def upgrade() -> None:
    _create_tables()
    _move_monthly_limits()
    with op.batch_alter_table("reservations") as batch:
        batch.create_index("ix_reservations_project_period", ["project_id", "period"])
    op.drop_table("spend_counters")
    _drop_monthly_budget_column()


def downgrade() -> None:
    op.add_column("projects", sa.Column("monthly_budget_nano", sa.BigInteger(), nullable=True))
    op.create_table(
        "spend_counters",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("committed_nano", sa.BigInteger(), nullable=False),
        sa.Column("reserved_nano", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_spend_counters_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("project_id", "period", name=op.f("pk_spend_counters")),
    )
    # Only the monthly hard project budgets survive a downgrade: the old schema has
    # no place for the others.
    op.execute(
        "UPDATE projects SET monthly_budget_nano = (SELECT b.amount_nano FROM budgets b "
        "WHERE b.project_id = projects.id AND b.key_id IS NULL AND b.period = 'monthly' "
        "AND b.hard)"
    )
    op.execute(
        "INSERT INTO spend_counters (project_id, period, committed_nano, reserved_nano) "
        "SELECT b.project_id, c.period_key, c.committed_nano, c.reserved_nano "
        "FROM budget_counters c JOIN budgets b ON b.id = c.budget_id "
        "WHERE b.key_id IS NULL AND b.period = 'monthly' AND b.hard"
    )
    with op.batch_alter_table("reservations") as batch:
        batch.drop_index("ix_reservations_project_period")
    op.drop_table("reservation_holds")
    op.drop_table("budget_counters")
    with op.batch_alter_table("budgets") as batch:
        batch.drop_index(batch.f("ix_budgets_project_id"))
    op.drop_table("budgets")
