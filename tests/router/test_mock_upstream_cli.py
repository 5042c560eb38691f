"""`tollgate mock-upstream`: each wire format, with its failure options, is what the
matching tollgate provider kind talks to, so a user can try tollgate locally against
each provider format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from services.router.providers import AnthropicProvider, GeminiProvider, OpenAIProvider
from services.router.providers.base import Provider
from services.router.providers.demo import model as demo
from services.router.server import RouterServicer
from tests.router.recorders import ListRecorder
from tollgate.cli.main import build_parser, main
from tollgate.cli.mock_upstream import build_app
from tollgate.config import ProviderConfig, Route
from tollgate.v1 import common_pb2, metering_pb2, router_pb2
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import collect, free_port, run

PROVIDERS: dict[str, Callable[..., Provider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}
BASE_PATHS = {"openai": "/v1", "anthropic": "/v1", "gemini": "/v1beta"}
MESSAGES = [{"role": "user", "content": "word " * 20}]
OK = metering_pb2.CALL_STATUS_OK
FAILED = metering_pb2.CALL_STATUS_FAILED
PARTIAL = metering_pb2.CALL_STATUS_PARTIAL


def _through_router(
    fmt: str, options: list[str], *, stream: bool
) -> tuple[list[router_pb2.ChatEvent], metering_pb2.UsageRecord]:
    args = build_parser().parse_args(["mock-upstream", "--format", fmt, *options])
    with MockUpstream(app=build_app(args)) as mock:
        base_url = f"http://127.0.0.1:{mock.port}{BASE_PATHS[fmt]}"
        config = ProviderConfig("up", fmt, ("model-x",), base_url, "any-key", 5.0)

        async def go() -> tuple[list[router_pb2.ChatEvent], metering_pb2.UsageRecord]:
            provider = PROVIDERS[fmt](config)
            recorder = ListRecorder()
            servicer = RouterServicer(
                {"m": Route("m", "model-x", "up")}, {"up": provider}, recorder
            )
            body = {"model": "m", "messages": MESSAGES, "stream": stream}
            request = router_pb2.ChatRequest(
                request_id="req-cli",
                model="m",
                stream=stream,
                body=json.dumps(body).encode(),
                prompt_tokens_estimate=30,
            )
            try:
                events = [e async for e in servicer.ChatCompletion(request, None)]  # type: ignore[arg-type]
            finally:
                await provider.aclose()
            (record,) = recorder.records
            return events, record

        return run(go())


@pytest.mark.parametrize("fmt", list(PROVIDERS))
def test_each_format_serves_its_provider_kind(fmt: str) -> None:
    events, record = _through_router(fmt, [], stream=True)
    assert collect(events).content == demo.REPLY_PREFIX + MESSAGES[0]["content"]
    assert (record.status, record.usage_source) == (OK, common_pb2.USAGE_SOURCE_PROVIDER)


@pytest.mark.parametrize("fmt", list(PROVIDERS))
def test_each_format_takes_the_failure_options(fmt: str) -> None:
    _, record = _through_router(fmt, ["--omit-usage"], stream=False)
    assert (record.status, record.usage_source) == (OK, common_pb2.USAGE_SOURCE_ESTIMATED)

    events, record = _through_router(fmt, ["--fail-status", "503"], stream=True)
    (error,) = collect(events).errors
    assert error.http_status == 502 and record.status == FAILED

    # Anthropic sends three events before the first text; the others send text at once.
    cut = ["--break-after-chunks", "5", "--token-delay-ms", "1"]
    events, record = _through_router(fmt, cut, stream=True)
    got = collect(events)
    assert got.content and got.errors and record.status == PARTIAL


def test_bad_options_are_refused_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["mock-upstream", "--fail-status", "200"])
    assert exit_.value.code == 2
    assert "--fail-status: 200 is not an HTTP error status" in capsys.readouterr().err


def test_the_command_serves_the_gemini_format() -> None:
    port = free_port()
    command = [sys.executable, "-m", "tollgate", "mock-upstream", "--format", "gemini"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--omit-usage"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = f"http://127.0.0.1:{port}/v1beta/models/gemini-x:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.post(url, json=body, timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert answer.status_code == 200
        data = answer.json()
        assert data["candidates"][0]["content"]["parts"][0]["text"] == demo.REPLY_PREFIX + "hello"
        assert "usageMetadata" not in data  # --omit-usage
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert f"mock gemini upstream at http://127.0.0.1:{port}/v1beta" in err
