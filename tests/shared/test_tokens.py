import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import tiktoken.load
import tiktoken_ext.openai_public
from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate import tokens
from tollgate.tokens import (
    count_chat_prompt,
    count_text,
    encoding_for_model,
    encoding_name_for_model,
    split_tokens,
    truncate_to_tokens,
)

# The example conversation from the OpenAI cookbook "How to count tokens with tiktoken"
# (openai/openai-cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb), where the
# API itself reported 129 prompt tokens for gpt-4 / gpt-3.5-turbo and 124 for gpt-4o(-mini).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """Empty the encoding cache for one test, then put the loaded encodings back."""
    saved = dict(tokens._encodings)
    tokens._encodings.clear()
    yield
    tokens._encodings.clear()
    tokens._encodings.update(saved)


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4", 129), ("gpt-3.5-turbo", 129)],
)
def test_cookbook_example_matches_published_counts(model: str, expected: int) -> None:
    assert count_chat_prompt(COOKBOOK_MESSAGES, model) == expected


# Token ids published in the same cookbook notebook.
@pytest.mark.parametrize(
    ("encoding_name", "text", "ids"),
    [
        ("cl100k_base", "tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
        ("o200k_base", "tiktoken is great!", [83, 8251, 2488, 382, 2212, 0]),
        ("cl100k_base", "antidisestablishmentarianism", [519, 85342, 34500, 479, 8997, 2191]),
        ("o200k_base", "antidisestablishmentarianism", [493, 129901, 376, 160388, 21203, 2367]),
        ("cl100k_base", "2 + 2 = 4", [17, 489, 220, 17, 284, 220, 19]),
        ("o200k_base", "2 + 2 = 4", [17, 659, 220, 17, 314, 220, 19]),
        (
            "cl100k_base",
            "お誕生日おめでとう",
            [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699],
        ),
        ("o200k_base", "お誕生日おめでとう", [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669]),
    ],
)
def test_cookbook_token_ids(encoding_name: str, text: str, ids: list[int]) -> None:
    encoding = tokens.get_encoding(encoding_name)
    assert encoding.encode_ordinary(text) == ids
    assert encoding.decode(ids) == text


def test_count_text_uses_the_models_encoding() -> None:
    # "tiktoken is great!" is 6 tokens in both; "2 + 2 = 4" is 7 in both; these differ:
    assert count_text("お誕生日おめでとう", "gpt-4") == 9
    assert count_text("お誕生日おめでとう", "gpt-4o") == 8
    assert count_text("", "gpt-4o") == 0
    assert count_text("hello", "claude-3-5-sonnet") == 1


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o1-mini", "o200k_base"),
        ("o3", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
        ("claude-3-5-sonnet-20241022", "o200k_base"),
        ("gemini-2.0-flash", "o200k_base"),
        ("demo", "o200k_base"),
        ("no-such-model", "o200k_base"),
        ("", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-4-32k", "cl100k_base"),
        ("gpt-4-turbo-2024-04-09", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-instruct", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("openai/gpt-4", "cl100k_base"),
        ("azure/gpt-35-turbo", "cl100k_base"),
        ("ft:gpt-3.5-turbo-0613:acme::abc123", "cl100k_base"),
    ],
)
def test_encoding_name_for_model(model: str, expected: str) -> None:
    assert encoding_name_for_model(model) == expected
    assert encoding_for_model(model).name == expected


def test_encodings_are_loaded_once() -> None:
    assert encoding_for_model("gpt-4o") is encoding_for_model("claude-3-haiku")
    assert encoding_for_model("gpt-4") is tokens.get_encoding("cl100k_base")


def test_concurrent_first_use_loads_once(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real_load = tokens._load_encoding

    def counting_load(name: str) -> tiktoken.Encoding:
        loads.append(name)
        return real_load(name)

    monkeypatch.setattr(tokens, "_load_encoding", counting_load)
    results: list[tiktoken.Encoding] = []
    threads = [
        threading.Thread(target=lambda: results.append(tokens.get_encoding("cl100k_base")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["cl100k_base"]
    assert len(results) == 8 and all(result is results[0] for result in results)


@pytest.mark.parametrize("encoding_name", ["o200k_base", "cl100k_base"])
def test_specs_match_tiktoken_ext(encoding_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Call tiktoken's own constructor with the vocabulary download stubbed out.
    monkeypatch.setattr(tiktoken_ext.openai_public, "load_tiktoken_bpe", lambda *a, **k: {})
    reference = tiktoken_ext.openai_public.ENCODING_CONSTRUCTORS[encoding_name]()
    encoding = tokens.get_encoding(encoding_name)
    assert encoding._pat_str == reference["pat_str"]
    assert encoding._special_tokens == reference["special_tokens"]


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_special_token_text_is_ordinary(model: str) -> None:
    text = "<|endoftext|> and <|endofprompt|>"
    encoding = encoding_for_model(model)
    assert count_text(text, model) == len(encoding.encode(text, disallowed_special=()))
    assert count_text("<|endoftext|>", model) > 1  # not the single special token
    messages = [{"role": "user", "content": text, "name": "<|fim_prefix|>"}]
    assert count_chat_prompt(messages, model) > 3 + 3


def _user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def test_text_parts_count_like_string_content() -> None:
    text = "Describe the weather in Paris, please."
    parts = [{"type": "text", "text": text}]
    assert count_chat_prompt(_user(parts), "gpt-4o") == count_chat_prompt(_user(text), "gpt-4o")
    two_parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": " world"}]
    assert count_chat_prompt(_user(two_parts), "gpt-4o") == count_chat_prompt(
        _user("Hello"), "gpt-4o"
    ) + count_text(" world", "gpt-4o")


def test_none_and_empty_content() -> None:
    role_only = count_chat_prompt([{"role": "assistant"}], "gpt-4o")
    assert role_only == 3 + 1 + 3  # per message, "assistant", reply priming
    assert count_chat_prompt([{"role": "assistant", "content": None}], "gpt-4o") == role_only
    assert count_chat_prompt([{"role": "assistant", "content": []}], "gpt-4o") == role_only
    assert count_chat_prompt([], "gpt-4o") == 3


def test_image_parts_are_estimated_by_detail() -> None:
    text_only = count_chat_prompt(_user([{"type": "text", "text": "What is this?"}]), "gpt-4o")

    def with_image(image_url: Any) -> int:
        image = {"type": "image_url", "image_url": image_url}
        parts = [{"type": "text", "text": "What is this?"}, image]
        return count_chat_prompt(_user(parts), "gpt-4o")

    url = "https://example.com/cat.png"
    assert with_image({"url": url, "detail": "low"}) == text_only + 85
    assert with_image({"url": url, "detail": "high"}) == text_only + 765
    assert with_image({"url": url}) == text_only + 765
    assert with_image(url) == text_only + 765


def test_audio_and_unknown_parts_count_their_json() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}}
    unknown = {"type": "hologram", "payload": [1, 2, 3], "note": None}
    for part in (audio, unknown):
        expected = count_chat_prompt(_user(None), "gpt-4o") + count_text(
            json.dumps(part, separators=(",", ":")), "gpt-4o"
        )
        assert count_chat_prompt(_user([part]), "gpt-4o") == expected


def test_tool_calls_and_tool_results_are_counted() -> None:
    arguments = '{"location": "Paris, France", "unit": "celsius"}'
    call = {
        "id": "call_abc123",
        "type": "function",
        "function": {"name": "get_current_weather", "arguments": arguments},
    }
    bare = count_chat_prompt([{"role": "assistant", "content": None}], "gpt-4o")
    with_call = count_chat_prompt(
        [{"role": "assistant", "content": None, "tool_calls": [call]}], "gpt-4o"
    )
    assert with_call == bare + count_text("get_current_weather", "gpt-4o") + count_text(
        arguments, "gpt-4o"
    )
    two_calls = count_chat_prompt(
        [{"role": "assistant", "content": None, "tool_calls": [call, call]}], "gpt-4o"
    )
    assert two_calls - bare == 2 * (with_call - bare)

    result = {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temp": 21}'}
    without_id = {"role": "tool", "content": '{"temp": 21}'}
    assert count_chat_prompt([result], "gpt-4o") == count_chat_prompt(
        [without_id], "gpt-4o"
    ) + count_text("call_abc123", "gpt-4o")


def test_non_string_values_count_their_json() -> None:
    base = {"role": "assistant", "content": "Hi"}
    audio = {"id": "audio_abc123"}
    with_audio = count_chat_prompt([{**base, "audio": audio}], "gpt-4o")
    assert with_audio == count_chat_prompt([base], "gpt-4o") + count_text(
        '{"id":"audio_abc123"}', "gpt-4o"
    )
    legacy = count_chat_prompt(
        [{**base, "function_call": {"name": "lookup", "arguments": "{}"}}], "gpt-4o"
    )
    assert legacy == count_chat_prompt([base], "gpt-4o") + count_text("lookup{}", "gpt-4o")


def test_tools_add_their_compact_json() -> None:
    messages = [{"role": "user", "content": "What's the weather like in San Francisco?"}]
    without = count_chat_prompt(messages, "gpt-4o")
    with_tools = count_chat_prompt(messages, "gpt-4o", tools=[WEATHER_TOOL])
    compact = json.dumps([WEATHER_TOOL], separators=(",", ":"))
    assert with_tools == without + count_text(compact, "gpt-4o")
    assert with_tools - without > 30
    assert count_chat_prompt(messages, "gpt-4o", tools=[]) == without
    assert count_chat_prompt(messages, "gpt-4o", tools=None) == without


def test_truncate_to_tokens() -> None:
    text = "tiktoken is great!"  # o200k_base: t|ikt|oken| is| great|!
    assert truncate_to_tokens(text, "gpt-4o", 3) == "tiktoken"
    assert truncate_to_tokens(text, "gpt-4o", 5) == "tiktoken is great"
    assert truncate_to_tokens(text, "gpt-4o", 6) == text
    assert truncate_to_tokens(text, "gpt-4o", 100) == text
    assert truncate_to_tokens(text, "gpt-4o", 0) == ""
    assert truncate_to_tokens(text, "gpt-4o", -1) == ""
    assert truncate_to_tokens("", "gpt-4o", 0) == ""
    # cl100k_base splits 誕 across two tokens: the half character is dropped, not mangled.
    assert truncate_to_tokens("お誕生日", "gpt-4", 2) == "お"
    assert truncate_to_tokens("お誕生日", "gpt-4", 3) == "お誕"


@settings(deadline=None)
@given(text=st.text(), max_tokens=st.integers(min_value=0, max_value=40))
def test_truncate_returns_a_prefix(text: str, max_tokens: int) -> None:
    for model in ("gpt-4o", "gpt-4"):
        prefix = truncate_to_tokens(text, model, max_tokens)
        assert text.startswith(prefix)
        if count_text(text, model) <= max_tokens:
            assert prefix == text


def test_split_tokens() -> None:
    assert split_tokens("tiktoken is great!", "gpt-4o") == "t|ikt|oken| is| great|!".split("|")
    assert split_tokens("tiktoken is great!", "gpt-4") == "t|ik|token| is| great|!".split("|")
    # Token 45918 ends inside 誕, so it is joined with the next token.
    assert split_tokens("お誕生日おめでとう", "gpt-4") == "お|誕|生|日|お|め|で|とう".split("|")
    assert split_tokens("", "gpt-4o") == []
    assert split_tokens("<|endoftext|>", "gpt-4o") != ["<|endoftext|>"]


@settings(deadline=None)
@given(text=st.text())
def test_split_tokens_round_trips(text: str) -> None:
    for model in ("gpt-4o", "gpt-4"):
        pieces = split_tokens(text, model)
        assert "".join(pieces) == text
        assert all(pieces)
        assert len(pieces) <= count_text(text, model)


def test_loads_without_network_or_a_writable_cache(
    fresh_cache: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))

    def no_download(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken's own loader was used for {blobpath}")

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)

    assert count_text("tiktoken is great!", "gpt-4o") == 6
    assert count_text("お誕生日おめでとう", "gpt-4") == 9
    assert not cache.exists()  # nothing was copied anywhere


def test_a_damaged_vocabulary_is_refused(tmp_path: Any) -> None:
    damaged = tmp_path / "o200k_base.tiktoken"
    damaged.write_bytes((tokens.DATA_DIR / "o200k_base.tiktoken").read_bytes()[:-10])
    with pytest.raises(ValueError, match="damaged"):
        tokens._read_ranks(damaged, tokens._SPECS["o200k_base"].sha256)


def test_an_encoding_keeps_no_python_copy_of_its_ranks(fresh_cache: None) -> None:
    """The Rust core holds the ranks; the Python dict (about 30 MB for o200k_base) is
    dropped once the encoding is built, and counting still gives the published ids."""
    encoding = tokens.get_encoding("o200k_base")
    assert encoding._mergeable_ranks == {}
    assert encoding.encode_ordinary("tiktoken is great!") == [83, 8251, 2488, 382, 2212, 0]
    assert encoding.decode_single_token_bytes(8251) == b"ikt"


def test_preload_loads_only_the_encodings_the_models_need(fresh_cache: None) -> None:
    tokens.preload(tokens.encodings_for(["demo", "gpt-4o-mini"]))
    assert set(tokens._encodings) == {"o200k_base"}
    assert tokens.encodings_for(["gpt-4", "gpt-4o"]) == {"cl100k_base", "o200k_base"}
    assert count_text("tiktoken is great!", "gpt-3.5-turbo") == 6  # cl100k on first use
    assert set(tokens._encodings) == {"o200k_base", "cl100k_base"}
