"""A catalogue of hostile request bodies for the gateway's front doors, and a
hypothesis strategy drawing from it.

Each front door has a valid base body; a hostile body is that base with one field
replaced by raw JSON text (so tokens Python's json module would never write, like
`NaN`, `1e400`, a lone surrogate escape or 5,000 nested arrays, reach the server
byte for byte), or random JSON, random bytes, invalid UTF-8, or deep nesting.
`every_hostile_body()` lists the systematic part (every hostile value in every
field it applies to); `hostile_bodies()` is the random part."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]
SENTINEL = "\x00tollgate-hostile-sentinel\x00"
HUGE = 1_000_000  # characters in a huge string: well under the body cap, slow to tokenize
DEPTHS = (100, 1_000, 5_000)


@dataclass(frozen=True)
class Door:
    path: str
    base: dict[str, Any]
    strings: tuple[Path, ...]  # fields that hold strings
    numbers: tuple[Path, ...]  # fields that hold numbers (or, for stream_options, an object)
    others: tuple[Path, ...]  # the remaining fields, for wrong types
    anthropic: bool = False  # answers errors in Anthropic's format
    billed: bool = True  # a 2xx answer leaves a ledger row

    @property
    def fields(self) -> tuple[Path, ...]:
        return self.strings + self.numbers + self.others


def _anthropic(path: str, billed: bool) -> Door:
    return Door(
        path,
        base={
            "model": "demo",
            "max_tokens": 5,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello"}],
            "metadata": {"user_id": "fuzz-user"},
            "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        },
        strings=(
            ("model",),
            ("system",),
            ("messages", 0, "content"),
            ("metadata", "user_id"),
            ("tools", 0, "name"),
        ),
        numbers=(("max_tokens",), ("temperature",), ("top_p",), ("top_k",)),
        others=(
            ("messages",),
            ("messages", 0),
            ("messages", 0, "role"),
            ("metadata",),
            ("tools",),
            ("stream",),
            ("stop_sequences",),
        ),
        anthropic=True,
        billed=billed,
    )


DOORS = (
    Door(
        "/v1/chat/completions",
        base={
            "model": "demo",
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 5,
            "user": "fuzz-user",
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
        },
        strings=(
            ("model",),
            ("user",),
            ("messages", 0, "content"),
            ("messages", 0, "role"),
            ("tools", 0, "function", "name"),
        ),
        numbers=(
            ("max_tokens",),
            ("max_completion_tokens",),
            ("n",),
            ("temperature",),
            ("top_p",),
            ("stream_options",),
        ),
        others=(("messages",), ("messages", 0), ("tools",), ("stream",), ("stop",)),
    ),
    Door(
        "/v1/embeddings",
        base={"model": "demo-embedding", "input": "Hello", "user": "fuzz-user"},
        strings=(("model",), ("input",), ("user",)),
        numbers=(("dimensions",),),
        others=(("encoding_format",),),
    ),
    _anthropic("/v1/messages", billed=True),
    _anthropic("/v1/messages/count_tokens", billed=False),
    Door(
        "/v1/responses",
        base={
            "model": "demo",
            "input": [{"role": "user", "content": "Hello"}],
            "instructions": "Be brief.",
            "max_output_tokens": 16,
            "user": "fuzz-user",
            "metadata": {"k": "v"},
            "tools": [{"type": "function", "name": "lookup", "parameters": {}}],
        },
        strings=(
            ("model",),
            ("instructions",),
            ("input", 0, "content"),
            ("user",),
            ("metadata", "k"),
            ("tools", 0, "name"),
            ("previous_response_id",),
        ),
        numbers=(("max_output_tokens",), ("temperature",), ("top_p",), ("top_logprobs",)),
        others=(
            ("input",),
            ("input", 0),
            ("input", 0, "role"),
            ("tools",),
            ("tool_choice",),
            ("metadata",),
            ("stream",),
            ("store",),
            ("text",),
            ("reasoning",),
        ),
    ),
    Door(
        # A list of prompts is a call a prompt: prompt i > 0 is billed as `<id>-<i>`.
        "/v1/completions",
        base={"model": "demo", "prompt": "Hello", "max_tokens": 5, "user": "fuzz-user"},
        strings=(("model",), ("prompt",), ("user",), ("suffix",)),
        numbers=(
            ("max_tokens",),
            ("n",),
            ("best_of",),
            ("logprobs",),
            ("temperature",),
            ("top_p",),
            ("stream_options",),
        ),
        others=(("stream",), ("stop",), ("echo",), ("logit_bias",)),
    ),
    Door(
        # No such file: a body the door accepts is a 404 at the file, so none runs.
        "/v1/batches",
        base={
            "input_file_id": "file-fuzz-none",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": {"k": "v"},
        },
        strings=(("input_file_id",), ("endpoint",), ("completion_window",), ("metadata", "k")),
        numbers=(),
        others=(("metadata",),),
        billed=False,
    ),
)

# Raw JSON text, named for the report.
STRINGS = {
    "lone high surrogate": '"\\ud800"',
    "lone low surrogate": '"\\udfff"',
    "surrogate inside text": '"abc\\udbffdef"',
    "NUL": '"\\u0000"',
    "NUL inside text": '"abc\\u0000def"',
    "huge string": '"' + "a" * HUGE + '"',
}
NUMBERS = {
    "2^31-1": str(2**31 - 1),
    "2^31": str(2**31),
    "2^53": str(2**53),
    "2^63-1": str(2**63 - 1),
    "2^63": str(2**63),
    "2^64": str(2**64),
    "-1": "-1",
    "0": "0",
    "1e308": "1e308",
    "1e400": "1e400",
    "-0.0": "-0.0",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
}
WRONG_TYPES = {
    "null": "null",
    "true": "true",
    "number": "7",
    "float": "0.5",
    "string": '"x"',
    "list": "[1]",
    "object": '{"a": 1}',
}
INVALID_UTF8 = {
    "0xFF byte": b"\xff",
    "truncated sequence": b"\xc3",
    "overlong slash": b"\xc0\xaf",
    "encoded surrogate": b"\xed\xa0\x80",
}


@dataclass(frozen=True)
class HostileBody:
    door: Door
    label: str  # what was done, for the report
    body: bytes


def _placed(base: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(base, dict):
        return {**base, head: _placed(base.get(head), rest, value)}
    if isinstance(base, list) and isinstance(head, int):
        copy = list(base)
        copy[head] = _placed(copy[head], rest, value)
        return copy
    return {head: _placed(None, rest, value)}


def with_raw(door: Door, path: Path, raw: str | bytes) -> bytes:
    """The door's base body with the field at `path` set to raw JSON text (or bytes)."""
    text = json.dumps(_placed(door.base, path, SENTINEL)).encode()
    return text.replace(
        json.dumps(SENTINEL).encode(), raw if isinstance(raw, bytes) else raw.encode()
    )


def _where(path: Path) -> str:
    return ".".join(str(p) for p in path) or "body"


def deep(depth: int, kind: str = "array") -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


def every_hostile_body() -> Iterator[HostileBody]:
    """Every systematic case: each hostile string in each string field, each number in
    each number field, each wrong type in each field, invalid UTF-8 in each string
    field, and deep nesting as the body and as a field, at every door."""
    for door in DOORS:
        cases: list[tuple[Path, str, str | bytes]] = []
        cases += [(p, name, raw) for p in door.strings for name, raw in STRINGS.items()]
        cases += [(p, name, raw) for p in door.numbers for name, raw in NUMBERS.items()]
        cases += [(p, name, raw) for p in door.fields for name, raw in WRONG_TYPES.items()]
        cases += [
            (p, name, b'"a' + raw + b'b"')
            for p in door.strings
            for name, raw in INVALID_UTF8.items()
        ]
        for depth in DEPTHS:
            for kind in ("array", "object"):
                cases.append((door.strings[-1], f"{kind}s nested {depth} deep", deep(depth, kind)))
        for path, name, raw in cases:
            yield HostileBody(door, f"{_where(path)} = {name}", with_raw(door, path, raw))
        for depth in DEPTHS:
            yield HostileBody(door, f"body = arrays nested {depth} deep", deep(depth).encode())


# --- the random part --------------------------------------------------------------

_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)  # surrogates too
_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


def _dumps(value: Any) -> str:
    # ensure_ascii writes lone surrogates as \\udXXX escapes; allow_nan writes NaN tokens.
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> HostileBody:
    door = draw(st.sampled_from(DOORS))
    kind = draw(st.sampled_from(["field", "catalogue", "body", "bytes", "utf8"]))
    if kind == "field":  # a random JSON value in a random field
        path = draw(st.sampled_from(door.fields))
        value = _dumps(draw(_json))
        return HostileBody(door, f"{_where(path)} = {value[:60]}", with_raw(door, path, value))
    if kind == "catalogue":  # a catalogue value in any field, fitting or not
        path = draw(st.sampled_from(door.fields))
        name, raw = draw(st.sampled_from(sorted({**STRINGS, **NUMBERS, **WRONG_TYPES}.items())))
        return HostileBody(door, f"{_where(path)} = {name}", with_raw(door, path, raw))
    if kind == "body":
        value = _dumps(draw(_json))
        return HostileBody(door, f"body = {value[:60]}", value.encode())
    if kind == "bytes":
        raw = draw(st.binary(max_size=200))
        return HostileBody(door, f"body = bytes {raw[:30]!r}", raw)
    path = draw(st.sampled_from(door.strings))
    noise = draw(st.binary(min_size=1, max_size=8))
    label = f"{_where(path)} = raw bytes {noise!r}"
    return HostileBody(door, label, with_raw(door, path, b'"' + noise + b'"'))
