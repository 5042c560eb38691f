"""The cache key: every field that changes the answer changes the key, the fields
that never do leave it alone, and the cache answers only deterministic requests
unless the client says `X-Tollgate-Cache: use` (and never with `skip`)."""

from __future__ import annotations

from typing import Any

import pytest

from services.router.cache import IGNORED_FIELDS, cache_key, cacheable
from tollgate.v1 import common_pb2

BASE: dict[str, Any] = {
    "model": "demo",
    "messages": [{"role": "user", "content": "What is 2 + 2?"}],
    "temperature": 0,
}

ANSWER_CHANGING = {
    "messages": [{"role": "user", "content": "What is 2 + 3?"}],
    "temperature": 0.5,
    "top_p": 0.9,
    "max_tokens": 12,
    "max_completion_tokens": 12,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "tool_choice": "none",
    "response_format": {"type": "json_object"},
    "seed": 7,
    "stop": ["\n"],
    "n": 2,
    "logprobs": True,
    "top_logprobs": 2,
    "presence_penalty": 0.5,
    "frequency_penalty": 0.5,
    "logit_bias": {"50256": -100},
    "reasoning_effort": "low",
    "some_vendor_field": {"x": 1},  # fields tollgate does not know count too
}


@pytest.mark.parametrize("field", sorted(ANSWER_CHANGING))
def test_each_answer_changing_field_changes_the_key(field: str) -> None:
    assert cache_key("demo", {**BASE, field: ANSWER_CHANGING[field]}) != cache_key("demo", BASE)


def test_the_served_model_is_part_of_the_key() -> None:
    assert cache_key("gpt-4o", BASE) != cache_key("gpt-4o-mini", BASE)
    # The name the client sent is not: an alias and its target share answers.
    assert cache_key("demo", {**BASE, "model": "my-alias"}) == cache_key("demo", BASE)


@pytest.mark.parametrize(
    "extra",
    [
        {"stream": True},
        {"stream": True, "stream_options": {"include_usage": True}},
        {"user": "alice"},
        {"metadata": {"run": "7"}},
        {"service_tier": "flex"},
        {"store": True},
    ],
)
def test_fields_that_never_change_the_answer_leave_the_key_alone(extra: dict[str, Any]) -> None:
    assert set(extra) <= IGNORED_FIELDS
    assert cache_key("demo", {**BASE, **extra}) == cache_key("demo", BASE)


def test_the_key_is_canonical() -> None:
    reordered = {"temperature": 0.0, "messages": BASE["messages"], "model": "demo"}
    assert cache_key("demo", reordered) == cache_key("demo", BASE)
    assert len(cache_key("demo", BASE)) == 64


DEFAULT, USE, SKIP = (
    common_pb2.CACHE_MODE_DEFAULT,
    common_pb2.CACHE_MODE_USE,
    common_pb2.CACHE_MODE_SKIP,
)


@pytest.mark.parametrize(
    ("temperature", "mode", "expected"),
    [
        (0, DEFAULT, True),
        (0.0, DEFAULT, True),
        (0.2, DEFAULT, False),
        (None, DEFAULT, False),  # OpenAI's default temperature is 1
        (False, DEFAULT, False),
        ("0", DEFAULT, False),
        (1, USE, True),
        (None, USE, True),
        (0, SKIP, False),
        (1, SKIP, False),
    ],
)
def test_which_requests_the_cache_answers(
    temperature: Any, mode: common_pb2.CacheMode, expected: bool
) -> None:
    body = {k: v for k, v in BASE.items() if k != "temperature"}
    if temperature is not None:
        body["temperature"] = temperature
    assert cacheable(body, mode) is expected
