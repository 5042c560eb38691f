"""A fallback to a dearer model never passes a hard budget: behind the whole suite,
a route whose cheap primary answers 503 falls back to a model 1000 times dearer.
Budget holds each call at the dearest model its route may be served by (the router's
ModelInfo.candidates, sent by the gateway), so a budget that fits the primary's worst
case but not the fallback's refuses the call, concurrent calls never hold or spend
past the limit, and what the fallbacks bill settles exactly. A route that may fall
back to a model with no price is refused before any upstream call."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from sqlalchemy import select

from tests.e2e.drill_checks import BudgetWatch, open_holds
from tests.e2e.openai_sdk_helpers import client, ledger_rows, unique, wait_rows
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import BUDGET_COUNTERS, BUDGETS, RESERVATIONS
from tollgate_mocks.openai_upstream import MockUpstream

KEY = "provider-key-for-routing-budget-tests"
MAX_TOKENS = 8
# Long enough that every answer is cut at MAX_TOKENS: each call bills its worst case's
# output, so a hold at the primary's price would be passed by the fallback's bill.
MESSAGES = [{"role": "user", "content": "Tell me about holds and budgets " * 4}]
CONCURRENT_CALLS = 6


@dataclass
class World:
    suite: Suite
    primary: MockUpstream
    backup: MockUpstream


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    primary = MockUpstream(api_key=KEY, fail_status=503).start()
    backup = MockUpstream(api_key=KEY).start()
    config = f"""
providers:
  - {{name: primary, kind: openai, base_url: '{primary.base_url}', api_key_env: PROVIDER_KEY}}
  - {{name: backup, kind: openai, base_url: '{backup.base_url}', api_key_env: PROVIDER_KEY,
     models: [dear-model, ghost-model]}}
routes:
  - model: chat-default
    deployments: [{{provider: primary, model: cheap-model}}]
    fallbacks: [dear-model]
  - model: ghost-route
    deployments: [{{provider: primary, model: cheap-model}}]
    fallbacks: [ghost-model]
routing:
  cooldown: {{seconds: 60}}
  retry: {{backoff_seconds: 0.01}}
prices:
  - {{model: cheap-model, input: '1', output: '2', currency: CNY}}
  - {{model: dear-model, input: '1000', output: '2000', currency: CNY}}
"""
    home: Path = tmp_path_factory.mktemp("routing-budget")
    suite = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", config=config, extra_env={"PROVIDER_KEY": KEY}
    )
    try:
        yield World(suite, primary, backup)
    finally:
        stop_suite(suite)
        primary.stop()
        backup.stop()


def _call(sdk: openai.OpenAI, model: str = "chat-default") -> str:
    try:
        sdk.chat.completions.create(model=model, messages=MESSAGES, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
    except openai.APIStatusError as exc:
        return f"{exc.status_code} {exc.body['code']}"  # type: ignore[index]
    return "ok"


def _counters(suite: Suite, project_id: str) -> tuple[int, int, int]:
    """The project's hard budget: (limit, committed, reserved)."""
    query = (
        select(
            BUDGETS.c.amount_nano, BUDGET_COUNTERS.c.committed_nano, BUDGET_COUNTERS.c.reserved_nano
        )
        .join(BUDGETS, BUDGETS.c.id == BUDGET_COUNTERS.c.budget_id)
        .where(BUDGETS.c.project_id == project_id, BUDGETS.c.hard.is_(True))
    )
    with suite.engine.connect() as conn:
        limit, committed, reserved = conn.execute(query).one()
    return limit, committed, reserved


def _holds(suite: Suite, project_id: str) -> list[int]:
    with suite.engine.connect() as conn:
        query = select(RESERVATIONS.c.amount_nano).where(RESERVATIONS.c.project_id == project_id)
        return list(conn.execute(query).scalars())


def test_the_hold_covers_the_dearer_fallback_and_settles_exactly(world: World) -> None:
    project, secret = world.suite.project_with_key(unique("fits"), budget="100")
    assert _call(client(world.suite, secret)) == "ok"
    (row,) = wait_rows(world.suite, project, 1)
    assert (row.model_served, row.route_reason) == ("dear-model", "fallback")
    (held,) = _holds(world.suite, project)
    # Held at the fallback's worst case: at the primary's price it would be 1000x less.
    assert row.cost_nano <= held and held >= 2_000_000 * MAX_TOKENS
    assert row.completion_tokens == MAX_TOKENS  # the bill is the worst case's output
    _, committed, reserved = _counters(world.suite, project)
    assert (committed, reserved) == (row.cost_nano, 0)


def test_a_budget_that_fits_only_the_primary_is_never_passed(world: World) -> None:
    """Before Budget held the candidates, this call was held at the primary's price,
    served by the fallback and billed far past the limit."""
    project, secret = world.suite.project_with_key(unique("primary-only"), budget="0.001")
    served_before = world.backup.state.served.received
    assert _call(client(world.suite, secret)) == "429 budget_exceeded"
    assert world.backup.state.served.received == served_before  # no upstream ran
    assert ledger_rows(world.suite, project) == []
    _, committed, reserved = _counters(world.suite, project)
    assert (committed, reserved) == (0, 0)


def test_concurrent_fallbacks_hold_the_budget_and_settle_exactly(world: World) -> None:
    """A budget for about three fallback calls, six at once: committed + reserved never
    passes it, at most three are served, and Budget's spend equals the ledger's."""
    probe, secret = world.suite.project_with_key(unique("probe"), budget="100")
    assert _call(client(world.suite, secret)) == "ok"
    (worst,) = _holds(world.suite, probe)
    budget = worst * 7 // 2
    project, secret = world.suite.project_with_key(
        unique("concurrent"), budget=f"{budget // 10**9}.{budget % 10**9:09d}"
    )
    sdk = client(world.suite, secret)
    with BudgetWatch(world.suite, project) as watch, ThreadPoolExecutor(CONCURRENT_CALLS) as pool:
        outcomes = list(pool.map(lambda _: _call(sdk), range(CONCURRENT_CALLS)))
    served = outcomes.count("ok")
    assert 1 <= served <= 3 and outcomes.count("429 budget_exceeded") == CONCURRENT_CALLS - served
    assert watch.over == [], watch.summary()
    rows = wait_rows(world.suite, project, served)
    assert len(rows) == served and {r.model_served for r in rows} == {"dear-model"}
    limit, committed, reserved = _counters(world.suite, project)
    assert committed == sum(r.cost_nano for r in rows) <= limit
    assert reserved == 0 and open_holds(world.suite, [project]) == (0, 0)


def test_a_route_that_may_reach_an_unpriced_model_is_refused_before_any_call(
    world: World,
) -> None:
    project, secret = world.suite.project_with_key(unique("ghost"))
    received = (world.primary.state.served.received, world.backup.state.served.received)
    sdk = client(world.suite, secret)
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="ghost-route", messages=MESSAGES, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
    body = info.value.body
    assert body["code"] == "model_not_priced" and body["param"] == "model"  # type: ignore[index]
    assert "`ghost-model`" in body["message"]  # type: ignore[index]
    assert (world.primary.state.served.received, world.backup.state.served.received) == received
    assert ledger_rows(world.suite, project) == []
