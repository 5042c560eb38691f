"""The door's body checks: depth, lone surrogates (named by JSON path), NUL and
over-long text bound for storage or a protobuf, and integer bounds, on every
front door's parameters. Each bad input is a 400 naming `param`, never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.gateway.anthropic_format import openai_request
from services.gateway.embeddings import embedding_params
from services.gateway.errors import ApiError
from services.gateway.validation import (
    MAX_DEPTH,
    MAX_JSON_ITEMS,
    chat_params,
    parse_json,
)

MESSAGES = [{"role": "user", "content": "x"}]
CHAT: dict[str, Any] = {"model": "demo", "messages": MESSAGES}
ANTHROPIC: dict[str, Any] = {"model": "demo", "max_tokens": 10, "messages": MESSAGES}
EMBED: dict[str, Any] = {"model": "demo-embedding", "input": "x"}


def refused(work: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        work(*args)
    assert caught.value.status == 400, caught.value.message
    return caught.value


def raw(body: Any) -> bytes:
    # json.dumps writes a lone surrogate as the escape \ud800, as a hostile client would.
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**CHAT, "user": "\ud800"}, "user"),
        ({**CHAT, "model": "de\udfffmo"}, "model"),
        ({**CHAT, "messages": [{"role": "user", "content": "a\ud800b"}]}, "messages[0].content"),
        (
            {
                **CHAT,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "\udc00"}]}],
            },
            "messages[0].content[0].text",
        ),
        ({**ANTHROPIC, "metadata": {"user_id": "\ud800"}}, "metadata.user_id"),
        ({**CHAT, "extra": {"k\ud800": 1}}, "extra.k\\ud800"),
    ],
)
def test_a_lone_surrogate_anywhere_is_a_400_naming_its_path(body: Any, param: str) -> None:
    assert refused(parse_json, raw(body)).param == param


def test_paired_surrogate_escapes_are_one_valid_character() -> None:
    body = parse_json(b'{"model": "demo", "user": "\\ud83d\\ude00"}')
    assert body["user"] == "\U0001f600"


def test_raw_surrogate_bytes_are_refused_too() -> None:
    # json.loads decodes bytes with 'surrogatepass': CESU-8 bytes would become a surrogate.
    given = b'{"model": "demo", "user": "\xed\xa0\x80"}'
    assert refused(parse_json, given).param == "user"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 5000, 100_000])
def test_deep_nesting_is_a_400(depth: int) -> None:
    given = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    assert "nests deeper" in refused(parse_json, given).message


def test_nesting_up_to_the_cap_is_fine() -> None:
    given = b'{"a":' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert parse_json(given)["a"]  # the object and MAX_DEPTH - 1 lists


def test_too_many_items_are_refused_before_parsing() -> None:
    given = b'{"a":[' + b"0," * (MAX_JSON_ITEMS + 1) + b"0]}"
    assert "commas" in refused(parse_json, given).message


@pytest.mark.parametrize("field", ["user", "model"])
@pytest.mark.parametrize("value", ["\x00", "a\x00b", "x" * 201])
def test_text_bound_for_storage_is_refused(field: str, value: str) -> None:
    assert refused(chat_params, parse_json(raw({**CHAT, field: value}))).param == field


def test_text_of_200_characters_is_fine() -> None:
    assert chat_params({**CHAT, "user": "u" * 200}).user == "u" * 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", 2**63),
        ("max_tokens", 2**31),
        ("max_completion_tokens", 2**64),
        ("n", 2**31),
        ("n", 129),
        ("max_tokens", 0),
        ("n", "2"),
    ],
)
def test_chat_integers_that_reach_a_protobuf_are_bounded(field: str, value: Any) -> None:
    assert refused(chat_params, {**CHAT, field: value}).param == field


def test_chat_integers_at_their_bounds_are_fine() -> None:
    params = chat_params({**CHAT, "max_tokens": 2**31 - 1, "n": 128})
    assert (params.max_tokens, params.n) == (2**31 - 1, 128)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**ANTHROPIC, "metadata": {"user_id": "\x00"}}, "metadata.user_id"),
        ({**ANTHROPIC, "metadata": {"user_id": "u" * 201}}, "metadata.user_id"),
        ({**ANTHROPIC, "max_tokens": 2**63}, "max_tokens"),
        ({**ANTHROPIC, "model": "m\x00"}, "model"),
    ],
)
def test_messages_fields_are_checked(body: Any, param: str) -> None:
    assert refused(openai_request, body).param == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**EMBED, "user": "\x00"}, "user"),
        ({**EMBED, "model": "e" * 201}, "model"),
        ({**EMBED, "dimensions": 2**63}, "dimensions"),
        ({**EMBED, "dimensions": 0}, "dimensions"),
    ],
)
def test_embeddings_fields_are_checked(body: Any, param: str) -> None:
    assert refused(embedding_params, body).param == param


@pytest.mark.parametrize("role", [["user"], {"a": 1}])
def test_an_unhashable_role_is_a_400(role: Any) -> None:
    body = {**CHAT, "messages": [{"role": role, "content": "x"}]}
    assert refused(chat_params, body).param == "messages[0].role"


@pytest.mark.parametrize("kind", [["auto"], {"a": 1}])
def test_an_unhashable_tool_choice_type_is_a_400(kind: Any) -> None:
    tool = {"name": "t", "input_schema": {"type": "object"}}
    body = {**ANTHROPIC, "tools": [tool], "tool_choice": {"type": kind}}
    assert refused(openai_request, body).param == "tool_choice.type"
