"""The suite in front of real HTTP upstreams (the mock OpenAI-compatible server):
pass-through, upstream failures, client disconnects, and secrets kept out of logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import select

from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LedgerEntry
from tollgate_mocks.openai_upstream import MockUpstream

UPSTREAM_KEY = "sk-upstream-secret-never-logged"
MESSAGES = [{"role": "user", "content": "Tell me a long story about budgets."}]


@dataclass
class World:
    suite: Suite
    fast: MockUpstream
    slow: MockUpstream
    broken: MockUpstream


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    fast = MockUpstream(api_key=UPSTREAM_KEY).start()
    slow = MockUpstream(api_key=UPSTREAM_KEY, token_delay_ms=100).start()
    broken = MockUpstream(api_key=UPSTREAM_KEY, fail_status=500).start()
    config = "providers:\n"
    for name, mock in (("fast", fast), ("slow", slow), ("broken", broken)):
        config += (
            f"  - {{name: {name}, kind: openai, base_url: '{mock.base_url}',"
            f" api_key_env: UPSTREAM_KEY, models: [m-{name}]}}\n"
        )
    config += "aliases: {cheap: m-fast}\nprices:\n"
    for name in ("fast", "slow", "broken"):
        config += f"  - {{model: m-{name}, input: '21', output: '105', currency: CNY}}\n"
    home: Path = tmp_path_factory.mktemp("upstreams")
    suite = start_suite(
        home,
        f"sqlite:///{home / 'tollgate.db'}",
        config=config,
        extra_env={"UPSTREAM_KEY": UPSTREAM_KEY},
    )
    try:
        yield World(suite, fast, slow, broken)
    finally:
        stop_suite(suite)
        for mock in (fast, slow, broken):
            mock.stop()


def rows_for(suite: Suite, project: str, count: int, timeout: float = 15) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        with suite.engine.connect() as conn:
            rows = list(
                conn.execute(select(LedgerEntry.__table__).where(LedgerEntry.project_id == project))
            )
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_unknown_fields_reach_the_upstream_unchanged(world: World) -> None:
    project, secret = world.suite.project_with_key("passthrough")
    sdk = openai.OpenAI(base_url=world.suite.base_url, api_key=secret, max_retries=0)
    reply = sdk.chat.completions.create(
        model="cheap",
        messages=MESSAGES,  # type: ignore[arg-type]
        temperature=0.25,
        seed=7,
        extra_body={"vendor_option": {"nested": [1, "two", None]}, "top_k": 40},
    )
    assert reply.choices[0].message.content
    sent = world.fast.state.requests[-1]
    assert sent["model"] == "m-fast"  # the alias resolved
    assert sent["vendor_option"] == {"nested": [1, "two", None]} and sent["top_k"] == 40
    assert (sent["temperature"], sent["seed"]) == (0.25, 7)
    assert world.fast.state.headers[-1]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    (row,) = rows_for(world.suite, project, 1)
    assert (row.model_requested, row.model_served, row.provider) == ("cheap", "m-fast", "fast")
    assert row.prompt_tokens == reply.usage.prompt_tokens


def test_an_upstream_failure_is_a_502_and_costs_nothing(world: World) -> None:
    project, secret = world.suite.project_with_key("broken", budget="1")
    sdk = openai.OpenAI(base_url=world.suite.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        sdk.chat.completions.create(model="m-broken", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_error"  # type: ignore[index]
    (row,) = rows_for(world.suite, project, 1)
    assert (row.status, row.cost_nano, row.http_status) == ("failed", 0, 502)
    usage = httpx.get(
        f"{world.suite.base_url}/usage", headers={"Authorization": f"Bearer {secret}"}
    ).json()
    assert usage["budget"]["reserved"] == "0.00" and usage["total"] == "0.00"


def test_a_client_that_disconnects_mid_stream_stops_the_upstream_and_pays_for_what_it_got(
    world: World,
) -> None:
    project, secret = world.suite.project_with_key("disconnect", budget="1")
    aborted_before = world.slow.state.streams.aborted
    with httpx.Client(timeout=30) as http:
        with http.stream(
            "POST",
            f"{world.suite.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {secret}"},
            json={"model": "m-slow", "messages": MESSAGES, "stream": True},
        ) as reply:
            assert reply.status_code == 200
            seen = 0
            for line in reply.iter_lines():
                if line.startswith("data: {"):
                    seen += 1
                if seen == 4:
                    break  # leave mid-stream: the connection closes here
    deadline = time.monotonic() + 10
    while world.slow.state.streams.aborted == aborted_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.slow.state.streams.aborted == aborted_before + 1
    (row,) = rows_for(world.suite, project, 1)
    assert row.status == "partial" and row.usage_source == "estimated"
    assert 1 <= row.completion_tokens < 20 and row.cost_nano > 0
    usage = httpx.get(
        f"{world.suite.base_url}/usage", headers={"Authorization": f"Bearer {secret}"}
    ).json()
    assert usage["budget"]["reserved"] == "0.00"


def test_secrets_never_reach_logs_errors_or_responses(world: World) -> None:
    _, secret = world.suite.project_with_key("secrets")
    bad = "tg-this-key-does-not-exist-0123456789"
    reply = httpx.post(
        f"{world.suite.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {bad}"},
        json={"model": "m-fast", "messages": MESSAGES},
    )
    assert reply.status_code == 401 and bad not in reply.text
    sdk = openai.OpenAI(base_url=world.suite.base_url, api_key=secret, max_retries=0)
    answer = sdk.chat.completions.with_raw_response.create(model="m-fast", messages=MESSAGES)  # type: ignore[arg-type]
    assert UPSTREAM_KEY not in answer.text and secret not in answer.text
    with pytest.raises(openai.APIStatusError) as info:
        sdk.chat.completions.create(model="m-broken", messages=MESSAGES)  # type: ignore[arg-type]
    assert UPSTREAM_KEY not in json.dumps(info.value.body)
    for name in ("gateway", "router", "metering", "budget"):
        log = (world.suite.home / f"{name}.log").read_text()
        for leaked in (secret, bad, UPSTREAM_KEY):
            assert leaked not in log, f"{name} logged a secret"


def test_prices_set_with_the_cli_apply_from_the_next_call_and_a_new_budget_within_a_second(
    world: World,
) -> None:
    suite = world.suite
    project, secret = suite.project_with_key("live-changes")
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    first = sdk.chat.completions.create(model="m-fast", messages=MESSAGES)  # type: ignore[arg-type]
    suite.cli("price", "set", "m-fast", "--input", "42", "--output", "210", "--currency", "CNY")
    second = sdk.chat.completions.create(model="m-fast", messages=MESSAGES)  # type: ignore[arg-type]
    rows = sorted(rows_for(suite, project, 2), key=lambda r: (r.started_at, r.id))  # call order
    assert first.usage.total_tokens == second.usage.total_tokens  # same call, twice
    assert rows[1].cost_nano == 2 * rows[0].cost_nano  # at the new price

    suite.cli("project", "budget", "live-changes", "0.000001")
    # The project had no hard budget, so the gateway may reuse Budget's last answer
    # for up to a second (docs/budgets.md): refused within ~2 s.
    budgeted = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        while time.monotonic() - budgeted < 2:
            sdk.chat.completions.create(model="m-fast", messages=MESSAGES)  # type: ignore[arg-type]
            time.sleep(0.05)
    suite.cli("project", "budget", "live-changes", "none")
    assert sdk.chat.completions.create(model="m-fast", messages=MESSAGES).choices  # type: ignore[arg-type]
