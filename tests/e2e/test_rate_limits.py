"""Rate limits through the whole suite, with the counters in the real Redis server:
OpenAI's 429 as the official SDK sees it, tokens settled to the router's usage,
concurrency slots freed on every path, and one limit held across two gateways."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import func, select

from services.budget.admin.limits import set_limits
from tests.e2e.suite import Suite, free_port, start_suite, stop_suite, wait_http
from tests.gateway.ratelimit_backends import REDIS_URL, drop_prefix
from tollgate.db.models import RESERVATIONS
from tollgate_mocks.openai_upstream import MockUpstream

UPSTREAM_KEY = "sk-upstream-rate-limits"
ADMIN_TOKEN = "admin-rate-limits"
MESSAGES = [{"role": "user", "content": "Count the tokens of this short message, please."}]
LONG_MESSAGES = [{"role": "user", "content": "Count the tokens of this message, please. " * 30}]
# A project per test, each with its limits, all written before the first call: the
# gateways read the table once at their first call, then every two seconds.
LIMITS: dict[str, dict[str, int]] = {
    # The token bucket refills at tpm/60 a second: a small tpm and a long prompt keep the
    # two calls' tokens visible in it for many seconds, however slow the machine is.
    "sdk": {"rpm": 2, "tpm": 2_000},
    "tokens": {"tpm": 700},
    "slots": {"max_concurrent": 1},
    "replicas": {"rpm": 5},
}


@dataclass
class World:
    suite: Suite
    second_url: str
    secrets: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)

    def sdk(self, name: str, base_url: str | None = None) -> openai.OpenAI:
        # The SDK retries 429s by default: the tests must see the first answer.
        return openai.OpenAI(
            base_url=base_url or self.suite.base_url, api_key=self.secrets[name], max_retries=0
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    mocks = {
        "fast": MockUpstream(api_key=UPSTREAM_KEY).start(),
        "slow": MockUpstream(api_key=UPSTREAM_KEY, token_delay_ms=40, latency_ms=300).start(),
        "broken": MockUpstream(api_key=UPSTREAM_KEY, fail_status=500).start(),
    }
    config = "providers:\n"
    for name, mock in mocks.items():
        config += (
            f"  - {{name: {name}, kind: openai, base_url: '{mock.base_url}',"
            f" api_key_env: UPSTREAM_KEY, models: [m-{name}]}}\n"
        )
    config += "prices:\n"
    for name in mocks:
        config += f"  - {{model: m-{name}, input: '1', output: '2', currency: CNY}}\n"
    home: Path = tmp_path_factory.mktemp("rate-limits")
    suite = start_suite(
        home,
        f"sqlite:///{home / 'tollgate.db'}",
        config=config,
        extra_env={
            "UPSTREAM_KEY": UPSTREAM_KEY,
            "TOLLGATE_REDIS_URL": REDIS_URL,
            "TOLLGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        },
    )
    port = free_port()
    world = World(suite, f"http://127.0.0.1:{port}/v1")
    try:
        suite.start(
            "gateway2",
            service="gateway",
            env={
                "TOLLGATE_HTTP_PORT": str(port),
                "TOLLGATE_GATEWAY_ADDR": f"127.0.0.1:{free_port()}",
            },
        )
        if not wait_http(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 60):
            raise RuntimeError(f"the second gateway did not start:\n{suite.log('gateway2')}")
        for name, limits in LIMITS.items():
            project, secret = suite.project_with_key(f"rl-{name}", budget="1000")
            world.projects[name], world.secrets[name] = project, secret
            set_limits(suite.engine, project, **limits)  # type: ignore[arg-type]
        yield world
    finally:
        suite.stop("gateway2")
        stop_suite(suite)
        for mock in mocks.values():
            mock.stop()
        for project in world.projects.values():
            drop_prefix(f"tollgate:rl:{{{project}}}")


def seconds(duration: str) -> float:
    """OpenAI's (Go's) duration format back to seconds: 20ms, 8.64s, 6m0s."""
    match = re.fullmatch(r"(?:(\d+)m)?([\d.]+)(ms|s)", duration)
    assert match, duration
    minutes, amount, unit = match.groups()
    return int(minutes or 0) * 60 + float(amount) / (1000 if unit == "ms" else 1)


def test_a_limited_call_gets_openais_429_and_holds_no_budget(world: World) -> None:
    sdk = world.sdk("sdk")
    seen = []
    for _ in range(2):
        raw = sdk.chat.completions.with_raw_response.create(model="m-fast", messages=LONG_MESSAGES)  # type: ignore[arg-type]
        raw.parse()
        seen.append(raw.headers)
    assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["1", "0"]
    assert seen[0]["x-ratelimit-limit-requests"] == "2"
    assert seen[0]["x-ratelimit-limit-tokens"] == "2000"
    assert int(seen[1]["x-ratelimit-remaining-tokens"]) < 2_000 - 300
    assert 50 < seconds(seen[1]["x-ratelimit-reset-requests"]) <= 60  # both requests refill
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="m-fast", messages=LONG_MESSAGES)  # type: ignore[arg-type]
    error = caught.value
    assert error.status_code == 429
    assert error.code == "rate_limit_exceeded" and error.type == "requests"
    assert error.body == {
        "message": error.body["message"],  # type: ignore[index]
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    message = error.body["message"]  # type: ignore[index]
    assert message.startswith(
        "Rate limit reached for project rl-sdk on requests per min (RPM): Limit 2, Used 2, "
        "Requested 1. Please try again in "
    )
    headers = error.response.headers
    assert 29 <= int(headers["retry-after"]) <= 30
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-tokens"] == "2000"
    assert int(headers["x-ratelimit-remaining-tokens"]) < 2_000 - 300
    assert 0 < seconds(headers["x-ratelimit-reset-tokens"]) < 60
    with world.suite.engine.connect() as conn:
        held = conn.execute(
            select(func.count())
            .select_from(RESERVATIONS)
            .where(RESERVATIONS.c.project_id == world.projects["sdk"])
        ).scalar()
    assert held == 2  # the refused call reserved no budget


def test_tokens_are_reserved_then_settled_to_the_usage(world: World) -> None:
    sdk = world.sdk("tokens")
    # Each call holds its prompt plus max_tokens=600 of a 700 TPM limit: two such
    # holds cannot coexist, so the second call passes only because the first was
    # settled down to what it used (a short echo, far below 600).
    stream = sdk.chat.completions.create(
        model="m-fast",
        messages=MESSAGES,  # type: ignore[arg-type]
        max_tokens=600,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    raw = sdk.chat.completions.with_raw_response.create(
        model="m-fast",
        messages=MESSAGES,  # type: ignore[arg-type]
        max_tokens=600,
    )
    reply = raw.parse()
    assert reply.usage is not None
    used = reply.usage.total_tokens  # the same prompt and echo as the streamed call
    held = reply.usage.prompt_tokens + 600
    remaining = int(raw.headers["x-ratelimit-remaining-tokens"])
    # Taken: the first call's usage and this call's hold; a few tokens refilled since.
    assert 700 - used - held <= remaining <= 700 - used - held + 20
    # Both calls now hold only their usage: a hold that fits the limit, but not beside
    # them, is refused as OpenAI refuses it.
    near_all = 700 - reply.usage.prompt_tokens - 5
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(
            model="m-fast",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=near_all,
        )
    assert caught.value.type == "tokens"
    message = caught.value.body["message"]  # type: ignore[index]
    match = re.match(
        r"Rate limit reached for project rl-tokens on tokens per min \(TPM\): Limit 700, "
        r"Used (\d+), Requested (\d+)\. Please try again in ",
        message,
    )
    assert match, message
    # What the two calls used, less what refilled since (700 a minute).
    assert 2 * used - 20 <= int(match[1]) <= 2 * used
    assert int(match[2]) == near_all + reply.usage.prompt_tokens


def eventually(attempt: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except openai.RateLimitError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_concurrency_slot_is_freed_on_success_error_and_disconnect(world: World) -> None:
    sdk = world.sdk("slots")

    def slow_call() -> str:
        reply = sdk.chat.completions.create(model="m-slow", messages=MESSAGES)  # type: ignore[arg-type]
        return reply.choices[0].message.content or ""

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(slow_call)
        time.sleep(0.15)
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="m-fast", messages=MESSAGES)  # type: ignore[arg-type]
        assert caught.value.body["message"].startswith(  # type: ignore[index]
            "Concurrency limit reached for project rl-slots: Limit 1 concurrent requests"
        )
        assert running.result(timeout=10)
    # Success freed the slot before the client saw the answer.
    sdk.chat.completions.create(model="m-fast", messages=MESSAGES)  # type: ignore[arg-type]
    for _ in range(3):  # an upstream error frees it too
        with pytest.raises(openai.InternalServerError):
            sdk.chat.completions.create(model="m-broken", messages=MESSAGES)  # type: ignore[arg-type]
    sdk.chat.completions.create(model="m-fast", messages=MESSAGES)  # type: ignore[arg-type]

    headers = {"authorization": f"Bearer {world.secrets['slots']}"}
    body = {"model": "m-slow", "messages": MESSAGES * 20, "stream": True}
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "POST", world.suite.base_url + "/chat/completions", json=body, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        next(response.iter_lines())  # the stream has started; now hang up
    eventually(lambda: sdk.chat.completions.create(model="m-fast", messages=MESSAGES))  # type: ignore[arg-type]
    with pytest.raises(httpx.ReadTimeout):  # a non-streaming call the client gives up on
        httpx.post(
            world.suite.base_url + "/chat/completions",
            json={"model": "m-slow", "messages": MESSAGES},
            headers=headers,
            timeout=0.1,
        )
    eventually(lambda: sdk.chat.completions.create(model="m-fast", messages=MESSAGES))  # type: ignore[arg-type]


def test_one_limit_holds_across_two_gateways(world: World) -> None:
    first, second = world.sdk("replicas"), world.sdk("replicas", world.second_url)

    def call(i: int) -> int:
        sdk = first if i % 2 else second
        try:
            sdk.chat.completions.create(model="m-fast", messages=MESSAGES)  # type: ignore[arg-type]
        except openai.RateLimitError:
            return 429
        return 200

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(call, range(5 + 4)))
    # In-process counters would let each gateway pass 5; the shared ones pass 5 in all.
    assert sorted(codes) == [200] * 5 + [429] * 4


def test_operators_set_limits_over_the_admin_api(world: World) -> None:
    world.suite.project_with_key("rl-admin")
    admin_url = world.suite.base_url.removesuffix("/v1") + "/admin"
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=admin_url, headers=auth, timeout=10) as client:
        for bad in ({"rpm": 0}, {"tpm": "many"}, {"max_concurrent": 1.5}, {}):
            reply = client.put("/projects/rl-admin/limits", json=bad)
            assert reply.status_code == 400, bad
            assert reply.json()["error"]["message"]
        assert client.get("/limits", params={"project": "rl-admin"}).json() == {"data": []}
        reply = client.put("/projects/rl-admin/limits", json={"rpm": 60, "tpm": 1000})
        assert reply.status_code == 200 and reply.json()["rpm"] == 60
        reply = client.put("/projects/rl-admin/limits", json={"tpm": None, "max_concurrent": 3})
        assert (reply.json()["rpm"], reply.json()["tpm"], reply.json()["max_concurrent"]) == (
            60,
            None,
            3,
        )
        listed = client.get("/limits", params={"project": "rl-admin"}).json()["data"]
        assert [(x["owner"], x["rpm"], x["max_concurrent"]) for x in listed] == [
            ("rl-admin", 60, 3)
        ]
        assert client.delete("/projects/rl-admin/limits").json() == {"cleared": True}
        assert client.put("/projects/ghost/limits", json={"rpm": 1}).status_code == 404
