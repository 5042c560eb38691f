"""Crash drills (issue 8): SIGKILL each service mid-load, alone and as one of two
replicas, and prove invariant 2 (no lost usage) and 3 (hard budgets hold).

Each drill sends a bounded load of plain calls and slow streams through the OpenAI
SDK to a suite whose provider is the mock upstream, kills one process in the middle,
restarts it, lets the load finish and delivery settle, then checks:
- every call the upstream served is in the ledger exactly once (and a call the
  upstream finished is billed with the tokens it reported);
- the bill (`GET /admin/projects/{name}/bill`, what `tollgate bill --json` shows),
  `/v1/usage` and Budget's committed spend each equal the ledger's sum exactly;
- nothing stays reserved after the reservation TTL;
- with replicas, a hard budget is never passed (committed + reserved <= limit).
Calls the client saw fail are allowed; calls the upstream served must be billed.
Run only these with `pytest -m drills`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import postgres_schema
from tests.e2e.drill_checks import (
    BudgetWatch,
    DrillReport,
    ledger_rows,
    wait_released,
    wait_settled,
)
from tests.e2e.drills import (
    DRILL_ENV,
    Caller,
    Load,
    MockProcess,
    admin,
    drill_config,
    kill_and_restart,
    warm_up,
)
from tests.e2e.suite import ALL, Suite, start_replicated_suite, start_suite, stop_suite

pytestmark = [pytest.mark.e2e, pytest.mark.drills]

KILL_AFTER_SECONDS = 2.5  # into the load: streams are in flight at every process
ROOMY_BUDGET = "1000"  # hard, so every call holds a reservation, but never reached
TIGHT_BUDGET = "0.05"  # about a dozen calls' worth (each holds ~0.007, costs ~0.003)


@dataclass
class World:
    suite: Suite
    mock: MockProcess
    spool: Path
    projects: int = field(default=0)

    def caller(self, prefix: str, budget: str) -> Caller:
        self.projects += 1
        name = f"{prefix}-{self.projects}"
        project_id, secret = self.suite.project_with_key(name, budget=budget)
        return Caller(name, project_id, secret)

    def heal(self) -> None:
        """Restart any process an earlier drill left dead, so drills stay independent."""
        dead = [name for name, p in self.suite.processes.items() if p.poll() is not None]
        for name in dead:
            self.suite.start(name)
        self.suite.wait_healthy(tuple(dead))


def _world(home: Path, start: Callable[[Path, str, dict[str, str]], Suite]) -> Iterator[World]:
    mock = MockProcess(home)
    spool = home / "spool"
    env = {**DRILL_ENV, "TOLLGATE_SPOOL_DIR": str(spool)}
    try:
        suite = start(home, drill_config(mock.base_url), env)
        try:
            warm_up(suite)
            yield World(suite, mock, spool)
        finally:
            stop_suite(suite)
    finally:
        mock.stop()


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One process a service, on SQLite."""
    home = tmp_path_factory.mktemp("drills-single")

    def start(home: Path, config: str, env: dict[str, str]) -> Suite:
        return start_suite(home, f"sqlite:///{home / 'tollgate.db'}", config=config, extra_env=env)

    yield from _world(home, start)


@pytest.fixture(scope="module", params=[(ALL,), ("back", "front")], ids=["one", "two"])
def hosted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The services hosted several to a process, as `tollgate up` runs them: all four
    in one (`tollgate serve all`), or in two (`serve front` and `serve back`); SQLite."""
    home = tmp_path_factory.mktemp("drills-hosted")

    def start(home: Path, config: str, env: dict[str, str]) -> Suite:
        url = f"sqlite:///{home / 'tollgate.db'}"
        return start_suite(home, url, config=config, extra_env=env, hosts=request.param)

    yield from _world(home, start)


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory, redis_db_url: str) -> Iterator[World]:
    """Two replicas of each service on PostgreSQL, rate limits shared in Redis."""
    home = tmp_path_factory.mktemp("drills-replicated")
    with postgres_schema() as url:

        def start(home: Path, config: str, env: dict[str, str]) -> Suite:
            env = {**env, "TOLLGATE_REDIS_URL": redis_db_url}
            return start_replicated_suite(home, url, replicas=2, config=config, extra_env=env)

        yield from _world(home, start)


def run_drill(world: World, name: str, target: str, callers: list[Caller]) -> DrillReport:
    """Load the suite, kill `target` mid-load, restart it; report once settled."""
    world.heal()
    received_before = world.mock.log()["received"]
    load = Load(tag=name, base_urls=world.suite.base_urls, callers=callers)
    load.run(kill_and_restart(world.suite, target, after=KILL_AFTER_SECONDS))
    load_ended = time.monotonic()
    project_ids = [c.project_id for c in callers]
    settle_seconds = wait_settled(world.suite, world.spool, project_ids)
    holds = wait_released(world.suite, project_ids, load_ended)
    release_seconds = time.monotonic() - load_ended
    rows = ledger_rows(world.suite, project_ids)
    bills, spent = {}, {}
    for caller in callers:
        bill = admin(world.suite, "GET", f"/admin/projects/{caller.name}/bill")
        usage = httpx.get(
            f"{world.suite.base_url}/usage",
            headers={"Authorization": f"Bearer {caller.secret}"},
            timeout=10,
        ).json()
        bills[caller.project_id] = (Decimal(bill["total"]), Decimal(usage["total"]))
        spent[caller.project_id] = Decimal(usage["budget"]["spent"])
    return DrillReport(
        name=name,
        sent=load.calls,
        outcomes=load.outcomes,
        received_upstream=world.mock.log()["received"] - received_before,
        served=world.mock.served(name),
        rows=rows,
        bill_totals=bills,
        budget_spent=spent,
        holds_left=holds,
        settle_seconds=settle_seconds,
        release_seconds=release_seconds,
    )


def check(report: DrillReport, capsys: pytest.CaptureFixture[str]) -> None:
    summary = report.summary()
    with capsys.disabled():
        print("\n" + summary)
    assert report.served, summary  # the drill reached the upstream at all
    assert report.lost == [], summary
    assert report.duplicated == [], summary
    assert report.token_mismatches == [], summary
    for project_id, (bill, usage) in report.bill_totals.items():
        ledger = report.ledger_total(project_id)
        assert (bill, usage, report.budget_spent[project_id]) == (
            ledger,
            ledger,
            ledger,
        ), summary
    assert report.holds_left == (0, 0), summary


SERVICES_TO_KILL = ["gateway", "router", "metering", "budget"]


@pytest.mark.parametrize("service", SERVICES_TO_KILL)
def test_a_service_killed_mid_load_loses_no_usage(
    single: World, service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    caller = single.caller(f"drill-{service}", ROOMY_BUDGET)
    check(run_drill(single, f"one-{service}", service, [caller]), capsys)


def test_the_host_of_the_router_killed_mid_load_loses_no_usage(
    hosted: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """kill -9 takes the router and whatever shares its process (all four, or the
    gateway): the calls in flight fail, and what the upstream served is delivered from
    the router's spool on disk after the restart."""
    (host,) = hosted.suite.names_of("router")
    caller = hosted.caller(f"drill-{host}", ROOMY_BUDGET)
    check(run_drill(hosted, f"hosted-{host}", host, [caller]), capsys)


# Which replica each drill kills: the first of some services, the second of others.
REPLICA_TO_KILL = {
    "gateway": "gateway2",
    "router": "router",
    "metering": "metering2",
    "budget": "budget",
}


@pytest.mark.postgres
@pytest.mark.parametrize("service", SERVICES_TO_KILL)
def test_a_replica_killed_mid_load_loses_no_usage_and_holds_hard_budgets(
    replicated: World, service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    roomy = replicated.caller(f"roomy-{service}", ROOMY_BUDGET)
    tight = replicated.caller(f"tight-{service}", TIGHT_BUDGET)
    # A limit that is never reached, so every call still counts in Redis.
    admin(replicated.suite, "PUT", f"/admin/projects/{roomy.name}/limits", {"rpm": 100_000})
    with BudgetWatch(replicated.suite, tight.project_id) as watch:
        report = run_drill(replicated, f"two-{service}", REPLICA_TO_KILL[service], [roomy, tight])
    check(report, capsys)
    refused = report.errors.count("429 budget_exceeded")
    summary = f"{watch.summary()}; {refused} calls refused for the budget"
    with capsys.disabled():
        print(summary)
    assert watch.samples > 0 and refused > 0, summary  # the drill did press on the limit
    assert watch.over == [], f"{summary}: (committed, reserved, limit) {watch.over[:5]}"
    assert report.ledger_total(tight.project_id) <= Decimal(TIGHT_BUDGET), summary
