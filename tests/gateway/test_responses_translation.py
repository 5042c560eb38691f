"""The Responses API front door's translators, as pure functions: a Responses request to
a chat completion body (items, instructions, tools, text.format, reasoning, limits),
its 400s naming `param`, and chat completions back to response objects with stable
ids and Responses usage, validated by the openai SDK's own types."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response
from pydantic import TypeAdapter

from services.gateway.errors import ApiError
from services.gateway.responses.passthrough import PassedBody
from services.gateway.responses.reply import Shell, response, usage_from_chat
from services.gateway.responses.request import Options, chat_request, items
from services.gateway.validation import chat_params
from tollgate.v1 import router_pb2

RESPONSE = TypeAdapter(Response)


def translate(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    options = Options.of(body)
    return chat_request(body, options, [*(history or []), *items(body)])


def refused(body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        translate(body)
    assert caught.value.status == 400
    return caught.value


def test_a_string_input_with_instructions_is_a_system_and_a_user_message() -> None:
    chat = translate(
        {
            "model": "m",
            "input": "hi",
            "instructions": "Be brief.",
            "max_output_tokens": 64,
            "temperature": 0.5,
            "top_p": 0.9,
            "user": "ann",
            "metadata": {"k": "v"},
            "store": False,
            "truncation": "auto",
        }
    )
    assert chat == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
        "max_completion_tokens": 64,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "ann",
    }


def test_items_become_messages_tool_calls_and_tool_results_in_order() -> None:
    image = "data:image/png;base64,AAAA"
    chat = translate(
        {
            "model": "m",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Look:"},
                        {"type": "input_image", "image_url": image, "detail": "low"},
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Let me check."}],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call_output", "call_id": "c1", "output": "one"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "two"}],
                },
                {"role": "developer", "content": "Answer now."},
            ],
            "stream": True,
        }
    )
    assert chat["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {"role": "developer", "content": "Answer now."},
    ]
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


def test_stored_history_comes_before_the_new_input() -> None:
    history = [
        {"type": "message", "role": "user", "content": "one"},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "1", "annotations": []}]},
    ]  # fmt: skip
    chat = translate({"model": "m", "input": "two"}, history)
    assert chat["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
    ]


def test_tools_tool_choice_text_format_and_reasoning_translate() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    chat = translate(
        {
            "model": "m",
            "input": "x",
            "tools": [
                {"type": "function", "name": "f", "description": "d", "parameters": schema,
                 "strict": True},
            ],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
            "text": {"format": {"type": "json_schema", "name": "n", "schema": schema},
                     "verbosity": "low"},
            "reasoning": {"effort": "high", "summary": "auto"},
        }
    )  # fmt: skip
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "description": "d", "parameters": schema, "strict": True},
        }
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "n", "schema": schema},
    }
    assert chat["verbosity"] == "low" and chat["reasoning_effort"] == "high"
    json_object = translate(
        {"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}
    )
    assert json_object["response_format"] == {"type": "json_object"}
    assert "response_format" not in translate(
        {"model": "m", "input": "x", "text": {"format": {"type": "text"}}}
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": {"a": 1}}, "input"),
        ({"model": "m", "input": [5]}, "input[0]"),
        ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"model": "m", "input": [{"type": 3}]}, "input[0].type"),
        ({"model": "m", "input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_file"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].image_url",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f",
                                     "arguments": "{not json"}]},
            "input[0].arguments",
        ),
        ({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]},
         "input[0].call_id"),
        ({"model": "m", "input": "x", "tools": {}}, "tools"),
        ({"model": "m", "input": "x", "tools": [{"type": "file_search"}]}, "tools[0].type"),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}],
          "tool_choice": "any"}, "tool_choice"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}},
         "text.format.schema"),
        ({"model": "m", "input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"model": "m", "input": "x", "max_output_tokens": True}, "max_output_tokens"),
        ({"model": "m", "input": "x", "temperature": 3}, "temperature"),
        ({"model": "m", "input": "x", "metadata": {"k": 1}}, "metadata.k"),
        ({"model": "m", "input": "x", "store": "no"}, "store"),
        ({"model": "m", "input": "x", "background": True}, "background"),
        ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation"),
        ({"model": "m", "input": "x", "user": "a\x00"}, "user"),
        ({"model": "m", "input": "x", "previous_response_id": ""}, "previous_response_id"),
        ({"model": "m", "input": []}, "input"),
    ],
)  # fmt: skip
def test_bad_requests_are_400s_naming_the_field(body: dict[str, Any], param: str) -> None:
    assert refused(body).param == param


def shell(body: dict[str, Any]) -> Shell:
    return Shell("resp_abc", "abc", Options.of(body), body, created_at=1)


def test_a_completion_becomes_a_response_the_sdk_reads() -> None:
    body = {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}]}
    completion = {
        "model": "m-2024",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Calling.",
                    "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "f", "arguments": '{"a":1}'}},
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 7,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }  # fmt: skip
    data = response(shell(body), completion, fallback_usage={})
    parsed = RESPONSE.validate_python(data)
    assert parsed.id == "resp_abc" and parsed.model == "m-2024" and parsed.status == "completed"
    assert parsed.output_text == "Calling."
    message, call = parsed.output
    assert message.type == "message" and message.id == "msg_abc"
    assert call.type == "function_call"
    assert (call.id, call.call_id, call.name, call.arguments) == (
        "fc_abc_0",
        "call_1",
        "f",
        '{"a":1}',
    )
    usage = parsed.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (10, 7, 17)
    assert usage.input_tokens_details.cached_tokens == 4
    assert usage.output_tokens_details.reasoning_tokens == 2


def test_a_cut_off_completion_is_incomplete_and_missing_usage_takes_the_fallback() -> None:
    body = {"model": "m", "input": "x", "max_output_tokens": 3}
    completion = {"choices": [{"finish_reason": "length", "message": {"content": "a b c"}}]}
    fallback = usage_from_chat({"prompt_tokens": 5, "completion_tokens": 3})
    assert fallback is not None
    data = response(shell(body), completion, fallback_usage=fallback)
    parsed = RESPONSE.validate_python(data)
    assert parsed.status == "incomplete"
    assert parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "max_output_tokens"
    assert parsed.usage is not None and parsed.usage.total_tokens == 8
    assert parsed.max_output_tokens == 3


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["model", "input", "instructions", "tools", "tool_choice", "text", "reasoning", "user",
     "max_output_tokens", "temperature", "top_p", "metadata", "store", "stream",
     "previous_response_id", "parallel_tool_calls", "background"]
)  # fmt: skip
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["message", "function_call", "function_call_output", "x"])
        | JSON_VALUES,
        "role": st.sampled_from(["user", "assistant", "system"]) | JSON_VALUES,
        "content": JSON_VALUES,
        "call_id": JSON_VALUES,
        "name": JSON_VALUES,
        "arguments": JSON_VALUES,
        "output": JSON_VALUES,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(FIELDS, JSON_VALUES, max_size=6),
    st.lists(ITEM, max_size=4) | st.text(max_size=5),
)
def test_any_body_translates_or_is_a_400_naming_a_field(
    body: dict[str, Any], given_input: Any
) -> None:
    body = {"model": "m", "input": given_input, **body}
    try:
        chat = translate(body)
    except ApiError as exc:
        assert exc.status == 400 and exc.param
        return
    assert chat["model"] == body["model"] and chat["messages"]


def test_a_passed_through_body_takes_a_policy_cap_as_max_output_tokens_and_keeps_its_input() -> (
    None
):
    body = {"model": "m", "input": "hi   there"}
    params = chat_params({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    passed = PassedBody(body, b'{"model":"m","input":"hi   there"}', params)
    assert passed.api == router_pb2.API_RESPONSES
    capped = passed.rewritten(
        {"max_tokens": 9, "messages": [{"role": "user", "content": "x"}]}, params
    )
    assert capped.fields == {"model": "m", "input": "hi   there", "max_output_tokens": 9}
    assert capped.api == router_pb2.API_RESPONSES
