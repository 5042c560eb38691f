"""A route whose primary deployment is down, behind the whole suite, called with the
OpenAI SDK: the fallback answers, the response names it (`model`, x-tollgate-model,
x-tollgate-attempts), the ledger holds one row for the call with the deployment and
the attempts, billed at the fallback's price; `tollgate routes` shows the cooldown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.openai_sdk_helpers import MESSAGES, client, unique, wait_rows
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate_mocks.openai_upstream import MockUpstream

KEY = "provider-key-for-routing-tests"
PRIMARY_PRICE, FALLBACK_PRICE = (30, 60), (3, 6)  # CNY per million tokens: input, output
NANO_PER_MILLION_TOKENS = 10**9 // 10**6


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
     models: [small-model]}}
routes:
  - model: chat-default
    deployments:
      - {{provider: primary, model: big-model}}
    fallbacks: [small-model]
routing:
  cooldown: {{seconds: 60}}
  retry: {{backoff_seconds: 0.01}}
prices:
  - {{model: big-model, input: '{PRIMARY_PRICE[0]}', output: '{PRIMARY_PRICE[1]}', currency: CNY}}
  - {{model: small-model, input: '{FALLBACK_PRICE[0]}', output: '{FALLBACK_PRICE[1]}',
     currency: CNY}}
"""
    home: Path = tmp_path_factory.mktemp("routing-failover")
    suite = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", config=config, extra_env={"PROVIDER_KEY": KEY}
    )
    try:
        yield World(suite, primary, backup)
    finally:
        stop_suite(suite)
        primary.stop()
        backup.stop()


def test_the_fallback_answers_and_one_row_names_it(world: World) -> None:
    project, secret = world.suite.project_with_key(unique("failover"))
    sdk = client(world.suite, secret)
    raw = sdk.chat.completions.with_raw_response.create(model="chat-default", messages=MESSAGES)
    completion = raw.parse()
    assert completion.model == "small-model"
    assert raw.headers["x-tollgate-model"] == "small-model"
    assert raw.headers["x-tollgate-attempts"] == "2"
    # A stream too; the primary is cooling now, so the fallback is the one attempt.
    with sdk.chat.completions.with_streaming_response.create(
        model="chat-default", messages=MESSAGES, stream=True
    ) as response:
        assert response.headers["x-tollgate-model"] == "small-model"
        assert response.headers["x-tollgate-attempts"] == "1"
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert text
    rows = wait_rows(world.suite, project, 2)
    assert len(rows) == 2  # one row a call: the failed attempt left none
    by_attempts = {row.attempts: row for row in rows}
    row = by_attempts[2]
    assert (row.model_requested, row.model_served, row.deployment) == (
        "chat-default",
        "small-model",
        "backup/small-model",
    )
    assert row.route_reason == "fallback" and by_attempts[1].route_reason == "fallback"
    # Billed once, at the price of the model that answered.
    input_price, output_price = FALLBACK_PRICE
    cost = (row.prompt_tokens * input_price + row.completion_tokens * output_price) * (
        NANO_PER_MILLION_TOKENS
    )
    assert row.cost_nano == cost
    assert world.primary.state.served.received == 1  # then skipped while cooling


def test_tollgate_routes_shows_the_cooling_deployment(world: World) -> None:
    # The first test cooled the primary down; this one needs it failed at least once.
    if world.primary.state.served.received == 0:
        project, secret = world.suite.project_with_key(unique("cool"))
        client(world.suite, secret).chat.completions.create(model="chat-default", messages=MESSAGES)
    shown = json.loads(world.suite.cli("routes", "--json").stdout)
    routes = {r["model"]: r for r in shown["routes"]}
    (primary,) = routes["chat-default"]["deployments"]
    assert primary["provider"] == "primary" and int(primary["cooling_until_unix_ms"]) > 0
    assert routes["chat-default"]["fallbacks"] == ["small-model"]
    assert "503" in primary["recent_errors"][0]
    text = world.suite.cli("routes").stdout
    assert "primary/big-model  weight 1  cooling" in text
