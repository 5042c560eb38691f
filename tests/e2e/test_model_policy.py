"""The right model for the work, end to end: the whole suite as separate processes,
two demo providers with different prices (`demo`, and `demo-mini` as the cheap
mapping), the official OpenAI SDK as the client. Priority, task, allow-list,
preference, guards and downgrade choose the configured models; the answer names
the model that served it (x-tollgate-model) and the ledger why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from services.budget.admin import alerts as alertlog
from services.budget.admin import operations as admin
from services.budget.admin import policies
from services.budget.prices import PriceInput, set_price
from tests.e2e.openai_sdk_helpers import MESSAGES, client, unique, wait_rows
from tests.e2e.suite import Suite, start_suite, stop_suite

CONFIG = (
    "providers:\n"
    "  - {name: demo, kind: demo, models: [demo]}\n"
    "  - {name: cheap, kind: demo, models: [demo-mini]}\n"
    "routing:\n"
    "  priorities:\n"
    "    low: {demo: demo-mini}\n"
    "  tasks:\n"
    "    summarize: demo-mini\n"
)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp("suite-policy")
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}", config=CONFIG)
    with running.engine.begin() as conn:
        set_price(conn, PriceInput("demo-mini", "1", "2", None, "CNY"))
    yield running
    stop_suite(running)


def ask(sdk: openai.OpenAI, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Headers:
    raw = sdk.chat.completions.with_raw_response.create(
        model=kw.pop("model", "demo"),
        messages=kw.pop("messages", MESSAGES),
        max_tokens=kw.pop("max_tokens", 30),
        extra_headers=headers or {},
        **kw,
    )
    assert raw.parse().choices[0].message.content
    return raw.headers


def project(suite: Suite, budget: str | None = "100", **policy: Any) -> tuple[str, str, str]:
    """A new project (with `policy`) and a key: (project id, key id, secret)."""
    name = unique("policy")
    created = admin.create_project(suite.engine, name, monthly_budget=budget)
    key = admin.create_key(suite.engine, name)
    if policy:
        policies.set_project_policy(suite.engine, name, **policy)
    return created.id, key.info.id, key.secret


def test_priority_and_task_choose_the_configured_model(suite: Suite) -> None:
    project_id, _, secret = project(suite)
    sdk = client(suite, secret)
    assert ask(sdk)["x-tollgate-model"] == "demo"
    low = ask(sdk, {"X-Tollgate-Priority": "low"})
    assert (low["x-tollgate-model"], low["x-tollgate-attempts"]) == ("demo-mini", "1")
    assert ask(sdk, {"X-Tollgate-Task": "summarize"})["x-tollgate-model"] == "demo-mini"
    assert ask(sdk, {"X-Tollgate-Priority": "high"})["x-tollgate-model"] == "demo"
    rows = wait_rows(suite, project_id, 4)
    reasons = sorted((r.route_reason, r.model_requested, r.model_served) for r in rows)
    assert reasons == [
        ("asked", "demo", "demo"),
        ("asked", "demo", "demo"),
        ("priority", "demo", "demo-mini"),
        ("task", "demo", "demo-mini"),
    ]
    with pytest.raises(openai.BadRequestError) as bad:
        ask(sdk, {"X-Tollgate-Priority": "urgent"})
    assert bad.value.body["param"] == "X-Tollgate-Priority"  # type: ignore[index]


def test_a_batch_key_defaults_to_low(suite: Suite) -> None:
    _, key_id, secret = project(suite)
    policies.set_key_policy(suite.engine, key_id, priority="low")
    sdk = client(suite, secret)
    assert ask(sdk)["x-tollgate-model"] == "demo-mini"
    assert ask(sdk, {"X-Tollgate-Priority": "high"})["x-tollgate-model"] == "demo"


def test_the_allow_list_filters_models_and_refuses_with_403(suite: Suite) -> None:
    _, _, secret = project(suite, allowed_models=["demo-mini"])
    sdk = client(suite, secret)
    assert [m.id for m in sdk.models.list()] == ["demo-mini"]
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(sdk)
    error = refused.value.body
    assert error["code"] == "model_not_allowed" and error["param"] == "model"  # type: ignore[index]
    assert ask(sdk, model="demo-mini")["x-tollgate-model"] == "demo-mini"


def test_the_preference_list_serves_a_model_not_allowed(suite: Suite) -> None:
    project_id, _, secret = project(
        suite, allowed_models=["demo-mini"], preferred_models=["demo-mini"]
    )
    assert ask(client(suite, secret))["x-tollgate-model"] == "demo-mini"
    (row,) = wait_rows(suite, project_id, 1)
    assert (row.route_reason, row.model_requested) == ("preference", "demo")


def test_guards_refuse_before_any_upstream_call(suite: Suite) -> None:
    project_id, _, secret = project(suite, max_tokens=20, max_prompt_tokens=40)
    sdk = client(suite, secret)
    with pytest.raises(openai.BadRequestError) as too_many:
        ask(sdk, max_tokens=21)
    assert too_many.value.body["param"] == "max_tokens"  # type: ignore[index]
    long = [{"role": "user", "content": "word " * 200}]
    with pytest.raises(openai.BadRequestError) as too_long:
        ask(sdk, messages=long, max_tokens=20)
    assert too_long.value.body["param"] == "messages"  # type: ignore[index]
    ask(sdk, max_tokens=20)
    assert len(wait_rows(suite, project_id, 2, timeout=2)) == 1


def test_compaction_records_the_tokens_it_saved(suite: Suite) -> None:
    project_id, _, secret = project(suite)
    spaced = [
        {"role": "system", "content": "Be   brief.\n\n\n\n\n"},
        {"role": "user", "content": ""},
        {"role": "user", "content": "Say    hello    " + " " * 200 + "please."},
    ]
    sdk = client(suite, secret)
    ask(sdk, {"X-Tollgate-Compact": "on"}, messages=spaced)
    ask(sdk, messages=spaced)
    rows = wait_rows(suite, project_id, 2)
    compacted = sorted(r.compacted_tokens for r in rows)
    assert compacted[0] == 0 and compacted[1] > 0, compacted


def test_past_the_threshold_low_calls_are_downgraded_and_alert_once(suite: Suite) -> None:
    # A 1% threshold of CNY 0.10: the first call's cost (about CNY 0.005) passes it.
    project_id, _, secret = project(suite, budget="0.10", downgrade_at_percent=1)
    sdk = client(suite, secret)
    assert ask(sdk)["x-tollgate-model"] == "demo"
    wait_rows(suite, project_id, 1)
    for _ in range(2):
        assert ask(sdk)["x-tollgate-model"] == "demo-mini"
    assert ask(sdk, {"X-Tollgate-Priority": "high"})["x-tollgate-model"] == "demo"
    rows = wait_rows(suite, project_id, 4)
    assert sorted(r.route_reason for r in rows) == ["asked", "asked", "downgrade", "downgrade"]
    events = [
        a for a in alertlog.list_alerts(suite.engine, project_id, 50) if a["kind"] == "downgrade"
    ]
    assert len(events) == 1, events
