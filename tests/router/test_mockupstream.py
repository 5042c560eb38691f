"""The mock upstream is OpenAI-compatible: the official SDK talks to it unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from services.router.providers.demo import model as demo
from tollgate.tokens import count_chat_prompt, count_text
from tollgate_mocks.openai_upstream import MockUpstream

MESSAGES: Any = [{"role": "user", "content": "Tell me about toll gates."}]
KEY = "sk-mock-key"


@pytest.fixture
def mock(upstreams: Callable[..., MockUpstream]) -> MockUpstream:
    return upstreams(api_key=KEY)


def _client(upstream: MockUpstream, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.base_url, api_key=key, max_retries=0)


def test_non_streaming(mock: MockUpstream) -> None:
    with _client(mock) as client:
        response = client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert response.model == "gpt-test"
    content = response.choices[0].message.content
    assert content is not None and content == demo.REPLY_PREFIX + MESSAGES[0]["content"]
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.prompt_tokens == count_chat_prompt(MESSAGES, "demo")
    assert response.usage.completion_tokens == count_text(content, "demo")
    assert mock.app.state.requests[-1] == {"model": "gpt-test", "messages": MESSAGES}


def test_streaming_with_usage(mock: MockUpstream) -> None:
    with _client(mock) as client:
        stream = client.chat.completions.create(
            model="demo",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == demo.REPLY_PREFIX + MESSAGES[0]["content"]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.prompt_tokens == count_chat_prompt(MESSAGES, "demo")
    assert usage.completion_tokens == count_text(content, "demo")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert mock.state.streams.finished == 1


def test_streaming_without_usage(mock: MockUpstream) -> None:
    with _client(mock) as client:
        chunks = list(client.chat.completions.create(model="demo", messages=MESSAGES, stream=True))
    assert chunks and all(c.usage is None and c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_and_auth(mock: MockUpstream) -> None:
    with _client(mock) as client:
        assert [m.id for m in client.models.list()] == ["demo"]
    with _client(mock, key="sk-wrong") as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="demo", messages=MESSAGES)


def test_fail_status_and_omit_usage(upstreams: Callable[..., MockUpstream]) -> None:
    failing = upstreams(fail_status=503)
    with _client(failing) as client, pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="demo", messages=MESSAGES)
    assert raised.value.status_code == 503
    quiet = upstreams(omit_usage=True)
    with _client(quiet) as client:
        response = client.chat.completions.create(model="demo", messages=MESSAGES)
        assert response.usage is None
        chunks = list(
            client.chat.completions.create(
                model="demo",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert all(c.usage is None for c in chunks)
