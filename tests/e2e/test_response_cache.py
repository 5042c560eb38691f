"""The response cache end to end: the whole suite as separate processes on the demo
model, the cache enabled in the YAML, the official OpenAI SDK as the client. A
repeated temperature-0 call is answered with `x-tollgate-cache: hit`, streaming
included (a replayed stream the SDK parses into the same answer), recorded in the
ledger as a hit that costs nothing (hit_price_fraction "0"); `X-Tollgate-Cache: skip`
goes upstream; another project never gets the first one's answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.openai_sdk_helpers import MESSAGES, client, unique, wait_rows
from tests.e2e.suite import Suite, start_suite, stop_suite

CONFIG = "cache: {enabled: true, ttl_seconds: 600}\n"


@pytest.fixture(scope="module")
def cached_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp("suite-cache")
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}", config=CONFIG)
    yield running
    stop_suite(running)


def ask(sdk: openai.OpenAI, **kw: Any) -> tuple[httpx.Headers, Any]:
    raw = sdk.chat.completions.with_raw_response.create(
        model="demo", messages=MESSAGES, temperature=0, **kw
    )
    return raw.headers, raw.parse()


def until_hit(sdk: openai.OpenAI, **kw: Any) -> tuple[httpx.Headers, Any, int]:
    """Ask until the cache answers (a miss is stored in the background, a moment
    after its answer); the answer and how many calls missed on the way."""
    for misses in range(20):
        headers, reply = ask(sdk, **kw)
        if headers.get("x-tollgate-cache") == "hit":
            return headers, reply, misses
        time.sleep(0.1)
    raise AssertionError("the cache never answered")


def test_a_repeated_call_is_a_free_hit(cached_suite: Suite) -> None:
    project, secret = cached_suite.project_with_key(unique("cache"), budget="100")
    sdk = client(cached_suite, secret)
    headers, first = ask(sdk)
    assert "x-tollgate-cache" not in headers
    headers, again, misses = until_hit(sdk)
    assert again.choices[0].message.content == first.choices[0].message.content
    assert again.usage == first.usage and headers["x-tollgate-attempts"] == "0"
    rows = wait_rows(cached_suite, project, 2 + misses)
    hits = [r for r in rows if r.cache_hit]
    assert len(hits) == 1 and len(rows) == 2 + misses
    hit, paid = hits[0], next(r for r in rows if not r.cache_hit)
    assert hit.route_reason == "cache" and hit.attempts == 0 and hit.provider == "cache"
    assert (hit.prompt_tokens, hit.completion_tokens) == (
        paid.prompt_tokens,
        paid.completion_tokens,
    )
    assert hit.cost_nano == 0 < paid.cost_nano
    assert hit.saved_nano == paid.cost_nano  # what the hit saved: the whole price


def test_a_streaming_call_is_answered_by_a_valid_replayed_stream(cached_suite: Suite) -> None:
    project, secret = cached_suite.project_with_key(unique("cache-stream"), budget="100")
    sdk = client(cached_suite, secret)
    options = {"stream": True, "stream_options": {"include_usage": True}}

    def stream() -> tuple[httpx.Headers, str, Any]:
        raw = sdk.chat.completions.with_raw_response.create(
            model="demo", messages=MESSAGES, temperature=0, **options
        )
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        return raw.headers, text, chunks[-1].usage

    headers, text, usage = stream()
    assert "x-tollgate-cache" not in headers and text
    for _ in range(20):
        headers, replayed, replayed_usage = stream()
        if headers.get("x-tollgate-cache") == "hit":
            break
        time.sleep(0.1)
    assert headers.get("x-tollgate-cache") == "hit"
    assert headers["content-type"].startswith("text/event-stream")
    assert replayed == text and replayed_usage == usage
    hits = [r for r in wait_rows(cached_suite, project, 2) if r.cache_hit]
    assert len(hits) == 1 and hits[0].stream and hits[0].cost_nano == 0


def test_skip_bypasses_and_projects_never_share(cached_suite: Suite) -> None:
    project, secret = cached_suite.project_with_key(unique("cache-skip"), budget="100")
    sdk = client(cached_suite, secret)
    messages = [{"role": "user", "content": f"Only mine: {unique('q')}"}]
    ask(sdk, extra_body={"messages": messages})
    until_hit(sdk, extra_body={"messages": messages})  # cached now
    skip = {"X-Tollgate-Cache": "skip"}
    headers, _ = ask(sdk, extra_body={"messages": messages}, extra_headers=skip)
    assert "x-tollgate-cache" not in headers and headers["x-tollgate-attempts"] == "1"
    other_project, other_secret = cached_suite.project_with_key(unique("cache-other"))
    headers, _ = ask(client(cached_suite, other_secret), extra_body={"messages": messages})
    assert "x-tollgate-cache" not in headers
    assert not any(r.cache_hit for r in wait_rows(cached_suite, other_project, 1))


def test_a_bad_cache_header_is_a_400(cached_suite: Suite) -> None:
    _, secret = cached_suite.project_with_key(unique("cache-bad"), budget="100")
    reply = httpx.post(
        f"{cached_suite.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {secret}", "X-Tollgate-Cache": "sometimes"},
        json={"model": "demo", "messages": MESSAGES, "temperature": 0},
        timeout=10,
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "X-Tollgate-Cache" and set(error) >= {"message", "type", "code"}


def ask_messages(suite: Suite, secret: str, content: str, cache: str) -> httpx.Response:
    """An Anthropic-format call (its temperature is unset: only `use` caches it)."""
    return httpx.post(
        f"{suite.base_url}/messages",
        headers={"x-api-key": secret, "X-Tollgate-Cache": cache},
        json={
            "model": "demo",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": content}],
        },
        timeout=10,
    )


def test_messages_reads_the_cache_header_like_chat(cached_suite: Suite) -> None:
    project, secret = cached_suite.project_with_key(unique("cache-messages"), budget="100")
    content = f"Cache me in Anthropic's format: {unique('q')}"
    first = ask_messages(cached_suite, secret, content, "use")
    assert first.status_code == 200 and "x-tollgate-cache" not in first.headers
    again, calls = first, 1
    while again.headers.get("x-tollgate-cache") != "hit":
        assert calls <= 20, "the cache never answered /v1/messages"
        time.sleep(0.1)  # a miss is stored in the background, a moment after its answer
        again, calls = ask_messages(cached_suite, secret, content, "use"), calls + 1
    assert again.json()["content"] == first.json()["content"]
    assert again.headers["x-tollgate-attempts"] == "0"
    skipped = ask_messages(cached_suite, secret, content, "skip")
    assert "x-tollgate-cache" not in skipped.headers
    assert skipped.headers["x-tollgate-attempts"] == "1"
    rows = wait_rows(cached_suite, project, calls + 1)
    assert len(rows) == calls + 1 and [r.cache_hit for r in rows].count(True) == 1
    bad = ask_messages(cached_suite, secret, content, "sometimes")
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert "X-Tollgate-Cache" in bad.json()["error"]["message"]
