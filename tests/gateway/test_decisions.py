"""Budget's reusable ALLOWED answers (decisions.py, reserve.authorize): a call of the
same key and shape within `reuse_ms` skips Authorize; it asks again after the window,
after any key or policy change, when Budget said 0 (a hard budget applies), for a
batch line, and after a refusal or a downgrade (never kept)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from services.budget.admin import operations as admin
from services.budget.admin import policies
from services.gateway.auth import KeyCache
from services.gateway.decisions import DecisionCache
from services.gateway.errors import ApiError
from services.gateway.policy_cache import PolicyCache
from services.gateway.reserve import Hold, authorize
from tests.gateway.relay_fakes import (
    ANSWER,
    FakeBudget,
    FakeRouter,
    _hello,
    context,
    deps_for,
    open_call,
    usage,
)
from tollgate.db import make_engine
from tollgate.v1 import budget_pb2

Decision = budget_pb2.AuthorizeResponse
HOLD = Hold("demo-1", 10, 0, 1, candidate_models=("demo-2",))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ask(budget: FakeBudget, hold: Hold = HOLD, clock: Clock | None = None) -> int:
    """Authorize `hold` three times through one gateway; how often Budget was asked."""
    deps = deps_for(FakeRouter([]), budget)
    if clock is not None:
        deps.decisions = DecisionCache(clock=clock)
    for _ in range(3):
        asyncio.run(authorize(deps, context(), hold))
    return len(budget.authorized)


def test_the_same_shape_within_the_window_skips_authorize() -> None:
    budget = FakeBudget(reuse_ms=1000)
    deps = deps_for(FakeRouter([ANSWER, usage(9, 1)]), budget)
    for _ in range(3):
        open_call(deps, _hello())
    assert len(budget.authorized) == 1 and deps.decisions.hits == 2
    # Another model, other candidates or another key is another shape: asked.
    for hold in (replace(HOLD, served_model="other"), replace(HOLD, candidate_models=("demo-3",))):
        asyncio.run(authorize(deps, context(), hold))
    assert len(budget.authorized) == 3
    assert HOLD.shape("key_1") != HOLD.shape("key_2")


def test_reuse_stops_when_the_window_ends() -> None:
    clock = Clock()
    budget = FakeBudget(reuse_ms=500)
    deps = deps_for(FakeRouter([]), budget)
    deps.decisions = DecisionCache(clock=clock)
    asyncio.run(authorize(deps, context(), HOLD))
    clock.now += 0.499
    asyncio.run(authorize(deps, context(), HOLD))
    assert len(budget.authorized) == 1
    clock.now += 0.001
    asyncio.run(authorize(deps, context(), HOLD))
    assert len(budget.authorized) == 2


def test_every_call_asks_when_budget_says_zero_or_for_a_batch_line() -> None:
    assert ask(FakeBudget(reuse_ms=0)) == 3  # a hard budget applies
    assert ask(FakeBudget(reuse_ms=1000), replace(HOLD, batch_id="batch_1")) == 3


@pytest.mark.parametrize(
    "decision",
    [
        Decision.KEY_REVOKED,
        Decision.KEY_PAUSED,
        Decision.KEY_EXPIRED,
        Decision.BUDGET_EXCEEDED,
        Decision.MODEL_NOT_PRICED,
    ],
)
def test_a_refusal_is_never_kept_as_allowed(decision: Decision.Decision) -> None:
    budget = FakeBudget(decision, reuse_ms=1000)  # even if a Budget said so
    deps = deps_for(FakeRouter([]), budget)
    for _ in range(2):
        with pytest.raises(ApiError):
            asyncio.run(authorize(deps, context(), HOLD))
    assert len(budget.authorized) == 2 and len(deps.decisions) == 0


def test_a_downgrade_is_never_kept() -> None:
    hold = replace(HOLD, downgrade_model="cheap-1")
    budget = FakeBudget(Decision.DOWNGRADED, reuse_ms=1000)
    assert ask(budget, hold) == 3


def test_the_cache_is_bounded() -> None:
    cache = DecisionCache(capacity=3)
    for n in range(10):
        cache.keep(("key", f"m{n}", (), "", ()), 1000)
        assert len(cache) <= 3


def test_a_key_change_or_a_policy_change_drops_every_answer(db_url: str) -> None:
    engine = make_engine(db_url)
    admin.create_project(engine, "acme", currency="CNY")
    key = admin.create_key(engine, "acme")

    async def run() -> None:
        keys, rules = KeyCache(engine, watch_seconds=60), PolicyCache(engine, watch_seconds=60)
        budget = FakeBudget(reuse_ms=1000)
        deps = deps_for(FakeRouter([]), budget)
        deps.decisions = DecisionCache()
        keys.on_change(deps.decisions.clear)
        rules.on_change(deps.decisions.clear)
        await keys.check_version()
        await rules.check_version()

        async def kept() -> bool:
            await authorize(deps, context(), HOLD)
            return len(deps.decisions) == 1

        assert await kept()
        admin.create_key(engine, "acme", "another")  # any change of keys
        assert await keys.check_version() and len(deps.decisions) == 0
        assert await kept()
        admin.revoke_key(engine, key.info.id)
        assert await keys.check_version() and len(deps.decisions) == 0
        assert await kept()
        policies.set_project_policy(engine, "acme", allowed_models=["demo"])
        assert await rules.check_version() and len(deps.decisions) == 0
        assert await kept()
        keys.forget(key.secret)  # Budget answered KEY_REVOKED elsewhere
        assert len(deps.decisions) == 0

    asyncio.run(run())
    engine.dispose()


def test_deps_wires_the_caches_to_the_decisions(tmp_path: Path) -> None:
    keys = KeyCache(make_engine(f"sqlite:///{tmp_path / 'keys.db'}"))
    deps = deps_for(FakeRouter([]), FakeBudget(reuse_ms=1000))
    deps.gate.keys = keys
    deps.__post_init__()
    asyncio.run(authorize(deps, context(), HOLD))
    assert len(deps.decisions) == 1
    keys.forget("tg-secret")
    assert len(deps.decisions) == 0
