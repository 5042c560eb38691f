"""Migration 0005 adds the cache-write price, the ledger's cache-write tokens and the
project price multiplier with values that keep every old row's meaning; and undoes it."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import create_engine, inspect, text

from tollgate.db import upgrade
from tollgate.db.migrate import alembic_config

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_old_rows_keep_their_meaning_and_the_migration_undoes(empty_url: str) -> None:
    upgrade(empty_url, "0004")
    old = create_engine(empty_url)
    with old.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (id, name, currency, created_at) "
                "VALUES ('proj_a', 'a', 'CNY', :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO prices (model, currency, input_nano, output_nano, "
                "cached_input_nano, max_output_tokens, effective_from) "
                "VALUES ('m', 'USD', 3000000000, 15000000000, 300000000, 100, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO ledger (request_id, project_id, key_id, end_user, model_requested, "
                "model_served, provider, prompt_tokens, completion_tokens, cached_tokens, "
                "reasoning_tokens, usage_source, cost_nano, currency, status, http_status, "
                "stream, latency_ms, started_at, recorded_at) VALUES ('r', 'proj_a', 'k', '', "
                "'m', 'm', 'p', 10, 5, 0, 0, 'provider', 7, 'CNY', 'ok', 200, :f, 1, :now, :now)"
            ),
            {"now": NOW, "f": False},
        )
    upgrade(empty_url)
    with old.connect() as conn:
        assert conn.execute(text("SELECT price_multiplier_nano FROM projects")).scalar_one() == (
            10**9
        )
        assert conn.execute(text("SELECT cache_write_input_nano FROM prices")).scalar_one() is None
        assert conn.execute(text("SELECT cache_write_tokens FROM ledger")).scalar_one() == 0
    command.downgrade(alembic_config(empty_url), "0004")
    columns = {
        table: {c["name"] for c in inspect(old).get_columns(table)}
        for table in ("projects", "prices", "ledger")
    }
    old.dispose()
    assert "price_multiplier_nano" not in columns["projects"]
    assert "cache_write_input_nano" not in columns["prices"]
    assert "cache_write_tokens" not in columns["ledger"] and "cost_nano" in columns["ledger"]
    upgrade(empty_url)  # and forward again
