"""The completions front door's translation: a completions body becomes one chat body a
prompt (the shared fields and unknown ones passed on, OpenAI's default of 16 tokens),
what a chat model cannot do is a 400 naming the field, and chat answers and chunks
come back as completion choices numbered prompt by prompt."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.gateway.completions_format import (
    DEFAULT_MAX_TOKENS,
    choices_of,
    chunk_choices,
    parse_completion,
)
from services.gateway.errors import ApiError
from services.gateway.validation import MAX_CHOICES

BASE: dict[str, Any] = {"model": "demo", "prompt": "Say hi"}


def refused(body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_completion(body)
    assert caught.value.status == 400, caught.value.message
    return caught.value


def test_a_prompt_is_one_user_message_with_the_shared_fields_passed_on() -> None:
    asked = parse_completion(
        {
            **BASE,
            "max_tokens": 7,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["\n"],
            "user": "u1",
            "seed": 3,
            "top_k": 40,  # a field tollgate does not know: an upstream's own
            "stream": True,
            "stream_options": {"include_usage": True},
            "echo": False,
            "suffix": None,
            "logprobs": None,
            "best_of": 1,
        }
    )
    (body,) = asked.bodies
    sent = json.loads(body.raw)
    assert sent == {
        "model": "demo",
        "messages": [{"role": "user", "content": "Say hi"}],
        "max_tokens": 7,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["\n"],
        "user": "u1",
        "seed": 3,
        "top_k": 40,
        "stream": True,
    }
    assert (body.params.max_tokens, body.params.user, body.params.stream) == (7, "u1", True)
    assert (asked.stream, asked.include_usage, asked.echo, asked.n) == (True, True, False, 1)


def test_max_tokens_defaults_to_sixteen_as_openai_does() -> None:
    (body,) = parse_completion(BASE).bodies
    assert body.params.max_tokens == DEFAULT_MAX_TOKENS == 16
    (body,) = parse_completion({**BASE, "max_tokens": None}).bodies
    assert body.params.max_tokens == 16


def test_a_list_of_prompts_is_one_chat_body_each_in_order() -> None:
    asked = parse_completion({**BASE, "prompt": ["a", "b", ""], "n": 2})
    assert asked.prompts == ["a", "b", ""]
    assert [b.params.messages[0]["content"] for b in asked.bodies] == ["a", "b", ""]
    assert all(b.params.n == 2 for b in asked.bodies)


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"prompt": None}, "prompt", None),
        ({"prompt": []}, "prompt", None),
        ({"prompt": 5}, "prompt", None),
        ({"prompt": ["a", 1]}, "prompt", None),
        ({"prompt": [1, 2, 3]}, "prompt", "unsupported"),
        ({"prompt": [[1, 2], [3]]}, "prompt", "unsupported"),
        ({"suffix": "tail"}, "suffix", "unsupported"),
        ({"logprobs": 0}, "logprobs", "unsupported"),
        ({"logprobs": 5}, "logprobs", "unsupported"),
        ({"best_of": 3}, "best_of", "unsupported"),
        ({"best_of": "3"}, "best_of", None),
        ({"echo": "yes"}, "echo", None),
        ({"stream": 1}, "stream", None),
        ({"stream": True, "stream_options": []}, "stream_options", None),
        ({"n": 0}, "n", None),
        ({"n": MAX_CHOICES + 1}, "n", None),
        ({"prompt": ["x"] * 65, "n": 2}, "prompt", None),
        ({"max_tokens": 0}, "max_tokens", None),
        ({"max_tokens": 2**31}, "max_tokens", None),
        ({"model": ""}, "model", None),
        ({"user": "a\x00b"}, "user", None),
    ],
)
def test_what_cannot_be_done_is_a_400_naming_the_field(
    change: dict[str, Any], param: str, code: str | None
) -> None:
    error = refused({**BASE, **change})
    assert (error.param, error.code) == (param, code)


def test_chat_choices_come_back_numbered_prompt_by_prompt() -> None:
    answer = {
        "choices": [
            {
                "index": 1,
                "message": {"role": "assistant", "content": "two"},
                "finish_reason": "stop",
            },
            {
                "index": 0,
                "message": {"role": "assistant", "content": None},
                "finish_reason": "length",
            },
            {"index": 2, "message": {"content": "x"}, "finish_reason": "tool_calls"},
        ]
    }
    choices = choices_of(answer, 3, "Q: ")
    assert [(c["index"], c["text"], c["finish_reason"]) for c in choices] == [
        (3, "Q: ", "length"),
        (4, "Q: two", "stop"),
        (5, "Q: x", "stop"),
    ]
    assert all(c["logprobs"] is None for c in choices)
    assert choices_of({"choices": "junk"}, 0, None) == []


def test_stream_chunks_carry_text_and_finish_reasons_only() -> None:
    role_only = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    text = {"choices": [{"index": 1, "delta": {"content": "hi"}, "finish_reason": None}]}
    done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    usage_only = {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    assert chunk_choices(role_only, 2) == []
    assert chunk_choices(text, 2) == [
        {"text": "hi", "index": 3, "logprobs": None, "finish_reason": None}
    ]
    assert chunk_choices(done, 2) == [
        {"text": "", "index": 2, "logprobs": None, "finish_reason": "length"}
    ]
    assert chunk_choices(usage_only, 0) == []
