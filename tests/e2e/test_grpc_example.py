"""docs/grpc.md's example, examples/internal_service.py, run as a team would run it
against the running suite: one budgeted chat call over gRPC, billed exactly once, and
the bill that shows it; a refused call runs nothing and bills nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.budget.admin import operations as admin
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LedgerEntry

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "internal_service.py"


@pytest.fixture(scope="module")
def sqlite_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home = tmp_path_factory.mktemp("grpc-example")
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}")
    yield running
    stop_suite(running)


def caller(suite: Suite, name: str, budget: str | None = None) -> tuple[str, str]:
    """A new project and key: (project id, key id), the ids the example bills to."""
    project = admin.create_project(suite.engine, name, monthly_budget=budget)
    return project.id, admin.create_key(suite.engine, name).info.id


SERVICES = ("BUDGET", "METERING", "ROUTER")


def run_example(
    suite: Suite, project_id: str, key_id: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The example as a subprocess with only what docs/grpc.md says it needs: the
    services' addresses, the internal token (the suite's own unless `token`) and the
    caller's ids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env.update({f"TOLLGATE_{s}_ADDR": suite.env[f"TOLLGATE_{s}_ADDR"] for s in SERVICES})
    env.update(
        TOLLGATE_INTERNAL_TOKEN=token or (suite.home / "internal_token").read_text().strip(),
        TOLLGATE_PROJECT_ID=project_id,
        TOLLGATE_KEY_ID=key_id,
        TOLLGATE_MAX_TOKENS="8",
    )
    return subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=60
    )


def ledger(suite: Suite, project_id: str) -> list[Any]:
    with suite.engine.connect() as conn:
        table = LedgerEntry.__table__
        return list(conn.execute(select(table).where(table.c.project_id == project_id)))


def test_the_example_makes_one_billed_call_and_prints_its_bill(sqlite_suite: Suite) -> None:
    project_id, key_id = caller(sqlite_suite, "grpc-example")
    result = run_example(sqlite_suite, project_id, key_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^answer: \S", out, re.M), out
    assert re.search(r"^served: \S+ in 1 attempt\(s\)$", out, re.M), out
    request_id = re.search(r"^request id: (\S+)$", out, re.M)
    assert request_id, out
    rows = ledger(sqlite_suite, project_id)
    assert [row.request_id for row in rows] == [request_id.group(1)]
    (row,) = rows
    assert row.key_id == key_id and row.model_served == "demo" and row.cost_nano > 0
    # The bill it printed is the ledger's one row: one call, its tokens, its cost.
    bill = re.search(
        r"^bill: grpc-example \S+: 1 call\(s\), (\d+) in \+ (\d+) out tokens, ", out, re.M
    )
    assert bill, out
    assert (int(bill.group(1)), int(bill.group(2))) == (row.prompt_tokens, row.completion_tokens)


def test_a_call_budget_refuses_runs_nothing_and_bills_nothing(sqlite_suite: Suite) -> None:
    project_id, key_id = caller(sqlite_suite, "grpc-example-poor", budget="0.000000001")
    result = run_example(sqlite_suite, project_id, key_id)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout.startswith("refused: BUDGET_EXCEEDED"), result.stdout
    assert "answer:" not in result.stdout
    assert ledger(sqlite_suite, project_id) == []


def test_a_call_without_the_internal_token_is_refused(sqlite_suite: Suite) -> None:
    project_id, key_id = caller(sqlite_suite, "grpc-example-stranger")
    result = run_example(sqlite_suite, project_id, key_id, token="not-the-token-0123456789")
    assert result.returncode != 0
    assert "UNAUTHENTICATED" in result.stderr
    assert ledger(sqlite_suite, project_id) == []
