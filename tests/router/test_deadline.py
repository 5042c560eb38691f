"""The total call deadline (`max_call_seconds`): a call still running when it passes is
ended, the upstream is cancelled, what was generated is billed as partial, and the
client's stream ends with an OpenAI-format `call_too_long` error.

The deadline keeps each call shorter than its budget reservation, whose TTL is the
hard limit's guard; load_settings refuses a deadline that is not below it."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.router.providers import AnthropicProvider, GeminiProvider, OpenAIProvider
from services.router.providers.base import Provider
from services.router.providers.demo import model as demo
from services.router.server import RouterServicer
from tests.router.recorders import ListRecorder
from tollgate import tokens
from tollgate.config import ConfigError, ProviderConfig, Route, load_settings
from tollgate.tokens import count_text
from tollgate.v1 import common_pb2, metering_pb2, router_pb2
from tollgate_mocks.anthropic_upstream import MockAnthropic
from tollgate_mocks.gemini_upstream import MockGemini
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import (
    FakeMetering,
    collect,
    eventually,
    make_settings,
    openai_provider,
    run,
    running_router,
)

KEY = "sk-deadline-key"
LONG = "word " * 30  # echoed by the demo model: ~35 tokens, 3.5 s at 100 ms a token
MESSAGES = [{"role": "user", "content": LONG}]
PROMPT_ESTIMATE = 41
# Long enough that a loaded machine still streams some text first; the whole reply
# takes 3.5 s at TOKEN_DELAY_MS.
MAX_CALL_SECONDS = 1.0
TOKEN_DELAY_MS = 100
PARTIAL = metering_pb2.CALL_STATUS_PARTIAL
ESTIMATED = common_pb2.USAGE_SOURCE_ESTIMATED

# kind -> (mock, provider, model)
KINDS: dict[str, tuple[Callable[..., MockUpstream], Callable[..., Provider], str]] = {
    "openai": (MockUpstream, OpenAIProvider, "gpt-test"),
    "anthropic": (MockAnthropic, AnthropicProvider, "claude-test"),
    "gemini": (MockGemini, GeminiProvider, "gemini-test"),
}


@pytest.fixture(scope="module", autouse=True)
def vocabularies_loaded() -> None:
    """Loading a tokenizer takes about a second: not inside a half-second deadline."""
    tokens.preload()


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def slow(kind: str) -> Iterator[MockUpstream]:
    mock = KINDS[kind][0](api_key=KEY, token_delay_ms=TOKEN_DELAY_MS, latency_ms=0).start()
    yield mock
    mock.stop()


def _call(
    kind: str, mock: MockUpstream, *, stream: bool, include_usage: bool
) -> tuple[Any, metering_pb2.UsageRecord, float]:
    _, make_provider, model = KINDS[kind]
    config = ProviderConfig("up", kind, (model,), mock.base_url, KEY, 30.0)

    async def go() -> tuple[Any, metering_pb2.UsageRecord, float]:
        provider = make_provider(config)
        recorder = ListRecorder()
        routes = {"m": Route("m", model, "up")}
        servicer = RouterServicer(routes, {"up": provider}, recorder, MAX_CALL_SECONDS)
        body = {"model": "m", "messages": MESSAGES, "stream": stream}
        request = router_pb2.ChatRequest(
            request_id="req-deadline",
            model="m",
            stream=stream,
            include_usage=include_usage,
            body=json.dumps(body).encode(),
            prompt_tokens_estimate=PROMPT_ESTIMATE,
        )
        started = time.monotonic()
        try:
            events = collect([e async for e in servicer.ChatCompletion(request, None)])  # type: ignore[arg-type]
        finally:
            await provider.aclose()
        elapsed = time.monotonic() - started
        # The cancelled upstream sees its client go away.
        await eventually(lambda: mock.state.streams.aborted == 1 or not stream, what="abort")
        (record,) = recorder.records
        return events, record, elapsed

    return run(go())


@pytest.mark.parametrize("include_usage", [True, False], ids=["usage", "no-usage"])
def test_a_stream_past_the_deadline_is_ended_and_billed_as_partial(
    kind: str, slow: MockUpstream, include_usage: bool
) -> None:
    events, record, elapsed = _call(kind, slow, stream=True, include_usage=include_usage)
    assert elapsed < MAX_CALL_SECONDS + 1.5  # the whole reply would take 3.5 s
    (error,) = events.errors
    assert (error.http_status, error.type, error.code) == (504, "server_error", "call_too_long")
    assert f"{MAX_CALL_SECONDS:g} seconds" in error.message
    got = events.content
    full = demo.REPLY_PREFIX + LONG
    assert got and full.startswith(got) and got != full
    assert (record.status, record.http_status, record.usage_source) == (PARTIAL, 504, ESTIMATED)
    assert record.usage == common_pb2.Usage(
        prompt_tokens=PROMPT_ESTIMATE, completion_tokens=count_text(got, KINDS[kind][2])
    )
    (usage_event,) = events.usages
    assert usage_event == record.usage
    usage_chunks = [c for c in events.chunks if "usage" in c]
    if include_usage:  # the billed estimate, before the error
        assert usage_chunks == [events.chunks[-1]] and events.chunks[-1]["choices"] == []
        assert events.chunks[-1]["usage"]["completion_tokens"] == record.usage.completion_tokens
        assert events.chunks[-1]["usage"]["prompt_tokens"] == PROMPT_ESTIMATE
    else:
        assert usage_chunks == []


def test_a_non_streaming_call_past_the_deadline_is_ended(kind: str) -> None:
    mock = KINDS[kind][0](api_key=KEY, latency_ms=3000).start()
    try:
        events, record, elapsed = _call(kind, mock, stream=False, include_usage=False)
    finally:
        mock.stop()
    assert elapsed < MAX_CALL_SECONDS + 1.5
    assert not events.responses
    (error,) = events.errors
    assert (error.http_status, error.code) == (504, "call_too_long")
    # The upstream took the prompt; nothing generated was seen.
    assert (record.status, record.http_status, record.usage_source) == (PARTIAL, 504, ESTIMATED)
    assert record.usage == common_pb2.Usage(prompt_tokens=PROMPT_ESTIMATE)


def test_a_call_within_the_deadline_is_untouched(tmp_path: Path, metering: FakeMetering) -> None:
    """Through the running router, which takes the deadline from its settings."""
    with MockUpstream(token_delay_ms=50) as upstream:  # "hi": 0.3 s; MESSAGES: 1.8 s
        settings = make_settings(tmp_path, metering.addr, [openai_provider(upstream, ["gpt"])])
        short = dataclasses.replace(settings, max_call_seconds=MAX_CALL_SECONDS)

        async def scenario() -> None:
            async with running_router(short) as router:
                quick = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
                events = await router.call(router.request({**quick, "stream": True}))
                assert not events.errors and events.content == demo.REPLY_PREFIX + "hi"
                slow_body = {"model": "gpt", "messages": MESSAGES, "stream": True}
                request = router.request(slow_body)
                events = await router.call(request)
                (error,) = events.errors
                assert error.code == "call_too_long"
                record = await metering.one(request.request_id)
                assert record.status == PARTIAL

        run(scenario())


# --- the setting ---------------------------------------------------------------------------


def _settings(tmp_path: Path, env: dict[str, str], yaml_data: dict[str, Any] | None = None) -> Any:
    config = tmp_path / "tollgate.yaml"
    config.write_text(yaml.safe_dump(yaml_data or {}))
    return load_settings({"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_CONFIG": str(config), **env})


def test_max_call_seconds_defaults_below_the_reservation_ttl(tmp_path: Path) -> None:
    assert _settings(tmp_path, {}).max_call_seconds == 540
    short_ttl = _settings(tmp_path, {"TOLLGATE_RESERVATION_TTL_SECONDS": "100"})
    assert short_ttl.max_call_seconds == 90


def test_max_call_seconds_from_env_or_yaml(tmp_path: Path) -> None:
    assert _settings(tmp_path, {"TOLLGATE_MAX_CALL_SECONDS": "120"}).max_call_seconds == 120
    assert _settings(tmp_path, {}, {"max_call_seconds": 300}).max_call_seconds == 300
    env_wins = _settings(tmp_path, {"TOLLGATE_MAX_CALL_SECONDS": "60"}, {"max_call_seconds": 300})
    assert env_wins.max_call_seconds == 60


@pytest.mark.parametrize(
    ("env", "yaml_data", "message"),
    [
        ({"TOLLGATE_MAX_CALL_SECONDS": "600"}, {}, "must be below TOLLGATE_RESERVATION_TTL"),
        (
            {"TOLLGATE_RESERVATION_TTL_SECONDS": "300", "TOLLGATE_MAX_CALL_SECONDS": "400"},
            {},
            "must be below TOLLGATE_RESERVATION_TTL",
        ),
        ({}, {"max_call_seconds": 900}, "must be below TOLLGATE_RESERVATION_TTL"),
        ({"TOLLGATE_MAX_CALL_SECONDS": "0"}, {}, "must be > 0"),
        ({"TOLLGATE_MAX_CALL_SECONDS": "soon"}, {}, "is not a number"),
    ],
)
def test_a_deadline_not_below_the_reservation_ttl_is_refused(
    tmp_path: Path, env: dict[str, str], yaml_data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(tmp_path, env, yaml_data)
