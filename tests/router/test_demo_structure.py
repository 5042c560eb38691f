"""The demo model answers structure: a forced tool call's arguments and a json_schema
response's content validate against their schemas (checked with `jsonschema`, and
with pydantic for the schemas pydantic makes), the same request gets the same
answer, streaming carries the same JSON in deltas, usage is the tokens sent, and a
hostile schema gets a bounded answer quickly."""

from __future__ import annotations

import datetime
import enum
import json
import uuid
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field

from services.router.providers.demo import model as demo
from services.router.providers.demo.pattern_sample import sample_pattern
from services.router.providers.demo.schema_sample import sample
from tollgate.tokens import count_text

MESSAGES = [{"role": "user", "content": "Fill the form, please."}]
CHECKER = jsonschema.FormatChecker()


class Colour(enum.StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    postcode: Annotated[str, Field(pattern=r"^\d{5}(-\d{4})?$")]
    country: Literal["FR", "DE", "NL"] = "FR"


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Person(BaseModel):
    name: str = Field(min_length=3, max_length=8)
    age: int | None = None
    colour: Colour
    nicknames: list[str] = Field(min_length=1, max_length=3)
    home: Address
    previous: list[Address]
    pet: Cat | Dog = Field(discriminator="kind")
    born: datetime.date
    seen: datetime.datetime
    id: uuid.UUID
    score: float = Field(gt=0, lt=1)
    price: float = Field(multiple_of=0.01, ge=10)
    count: int = Field(multiple_of=7, gt=100, le=200)
    tree: Node
    either: int | str | None
    flags: dict[str, bool] = {}
    pair: tuple[int, str]


class Step(BaseModel):
    explanation: str
    output: str


class MathReasoning(BaseModel):
    steps: list[Step]
    final_answer: str


MODELS: list[type[BaseModel]] = [Person, Address, Node, MathReasoning, Cat]

HAND_WRITTEN: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {
            "email": {"type": "string", "format": "email"},
            "site": {"type": "string", "format": "uri"},
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "ip": {"type": "string", "format": "ipv4"},
            "ip6": {"type": "string", "format": "ipv6"},
            "id": {"type": "string", "format": "uuid"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2,4}$"},
            "hex": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
            "word": {"type": "string", "pattern": "^(yes|no|maybe)$"},
            "padded": {"type": "string", "minLength": 40, "maxLength": 41},
            "short": {"type": "string", "maxLength": 2},
        },
        "required": ["email", "code"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "n": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.001},
            "m": {"type": "number", "multipleOf": 0.25, "minimum": 3.1, "maximum": 3.9},
            "k": {"type": "integer", "minimum": -5, "maximum": -5},
            "big": {"type": "integer", "minimum": 10**20},
            "neg": {"type": "number", "maximum": -1e300},
            "third": {"type": "number", "multipleOf": 0.1},
        },
        "required": ["n", "m", "k", "big", "neg", "third"],
    },
    {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "definitions": {"pos": {"type": "integer", "minimum": 0, "exclusiveMinimum": True}},
        "properties": {
            "a": {"$ref": "#/definitions/pos"},
            "b": {"type": "array", "items": [{"type": "string"}, {"type": "boolean"}]},
            "c": {"type": ["string", "null"], "enum": ["x", "y", None]},
        },
        "required": ["a", "b"],
    },
    {
        "type": "object",
        "allOf": [
            {"properties": {"x": {"type": "integer", "minimum": 3}}, "required": ["x"]},
            {"properties": {"x": {"maximum": 4}, "y": {"const": 7}}, "required": ["y"]},
        ],
    },
    {
        "type": "array",
        "minItems": 5,
        "maxItems": 6,
        "uniqueItems": True,
        "items": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "null"}],
        "items": False,
    },
    {
        "oneOf": [
            {"type": "integer"},
            {"type": "number", "multipleOf": 0.5, "minimum": 0.6, "maximum": 0.9},
        ]
    },
    {"type": "object", "minProperties": 3, "additionalProperties": {"type": "integer"}},
    {"type": "object", "properties": {"list": {"$ref": "#"}, "v": {"type": "integer"}}},
    {"type": "string", "nullable": True, "enum": ["only"]},
    {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}], "$defs": {"a": {"type": "boolean"}}},
    {
        "type": "object",
        "$defs": {"a/b": {"type": "integer", "minimum": 5}},
        "properties": {"c": {"$ref": "#/$defs/a~1b"}},
        "required": ["c"],
    },
    {},
    {"type": "integer", "multipleOf": 1.5, "minimum": 2},
]


def _schemas() -> list[tuple[str, dict[str, Any], type[BaseModel] | None]]:
    cases: list[tuple[str, dict[str, Any], type[BaseModel] | None]] = []
    for model in MODELS:
        cases.append((model.__name__, model.model_json_schema(), model))
        cases.append((model.__name__ + "-strict", to_strict_json_schema(model), model))
    cases.extend((f"hand-{i}", schema, None) for i, schema in enumerate(HAND_WRITTEN))
    return cases


SCHEMAS = _schemas()


def _schema_body(schema: Any, messages: list[Any] = MESSAGES) -> dict[str, Any]:
    spec = {"name": "answer", "schema": schema, "strict": True}
    return {"messages": messages, "response_format": {"type": "json_schema", "json_schema": spec}}


def _tool_body(schema: Any, messages: list[Any] = MESSAGES) -> dict[str, Any]:
    tool = {"type": "function", "function": {"name": "fill", "parameters": schema}}
    other = {"type": "function", "function": {"name": "other", "parameters": {}}}
    choice = {"type": "function", "function": {"name": "fill"}}
    return {"messages": messages, "tools": [other, tool], "tool_choice": choice}


def _check(value: Any, schema: dict[str, Any], model: type[BaseModel] | None) -> None:
    jsonschema.validate(value, schema, format_checker=CHECKER)
    if model is not None:
        model.model_validate(value)


@pytest.mark.parametrize(("name", "schema", "model"), SCHEMAS, ids=[c[0] for c in SCHEMAS])
def test_every_schema_gets_a_value_that_validates(
    name: str, schema: dict[str, Any], model: type[BaseModel] | None
) -> None:
    for seed in range(12):
        _check(sample(schema, seed), schema, model)


@pytest.mark.parametrize(("name", "schema", "model"), SCHEMAS, ids=[c[0] for c in SCHEMAS])
def test_json_schema_content_and_forced_tool_arguments_validate(
    name: str, schema: dict[str, Any], model: type[BaseModel] | None
) -> None:
    reply = demo.completion(_schema_body(schema), "demo")
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "stop"
    content = choice["message"]["content"]
    _check(json.loads(content), schema, model)
    assert reply["usage"]["completion_tokens"] == count_text(content, "demo")

    called = demo.completion(_tool_body(schema), "demo")["choices"][0]
    assert called["finish_reason"] == "tool_calls" and called["message"]["content"] is None
    (call,) = called["message"]["tool_calls"]
    assert call["function"]["name"] == "fill"
    arguments = json.loads(call["function"]["arguments"])
    assert isinstance(arguments, dict)
    if schema.get("type") == "object":
        _check(arguments, schema, model)


def test_every_property_is_filled_the_required_first() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "null"}},
        "required": ["c", "b"],
    }
    assert list(sample(schema, 1)) == ["c", "b", "a"]
    person = sample(Person.model_json_schema(), 3)
    assert set(person) == set(Person.model_fields)
    assert person["age"] is not None and person["pet"]["kind"] in ("cat", "dog")


def test_the_same_prompt_gets_the_same_answer_and_another_prompt_may_not() -> None:
    schema = Person.model_json_schema()
    first = demo.completion(_schema_body(schema), "demo")["choices"][0]["message"]["content"]
    again = demo.completion(_schema_body(schema), "demo")["choices"][0]["message"]["content"]
    assert first == again
    others = {
        demo.completion(_schema_body(schema, [{"role": "user", "content": f"try {i}"}]), "demo")[
            "choices"
        ][0]["message"]["content"]
        for i in range(5)
    }
    assert len(others | {first}) > 1
    args = [
        demo.completion(_tool_body(schema), "demo")["choices"][0]["message"]["tool_calls"][0]
        for _ in range(2)
    ]
    assert args[0]["function"] == args[1]["function"]


def test_a_recursive_model_ends_soon() -> None:
    tree = sample(Node.model_json_schema(), 0)
    assert len(json.dumps(tree)) < 400
    assert all("children" not in c or c["children"] == [] for c in tree["children"])


def _streamed(chunks: list[dict[str, Any]]) -> tuple[str, str, str | None, int]:
    content, arguments, finish, deltas = "", "", None, 0
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                arguments += call["function"].get("arguments") or ""
                deltas += 1
            finish = choice["finish_reason"] or finish
    return content, arguments, finish, deltas


def test_streaming_carries_the_same_json_in_deltas() -> None:
    schema = Person.model_json_schema()
    body = _schema_body(schema)
    whole = demo.completion(body, "demo")
    chunks = demo.chunks(body, "demo", include_usage=True)
    content, _, finish, _ = _streamed(chunks)
    assert content == whole["choices"][0]["message"]["content"] and finish == "stop"
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) > 10
    assert chunks[-1]["usage"] == whole["usage"]

    body = _tool_body(schema)
    whole = demo.completion(body, "demo")
    chunks = demo.chunks(body, "demo", include_usage=True)
    _, arguments, finish, deltas = _streamed(chunks)
    assert arguments == whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert finish == "tool_calls" and deltas > 10  # the arguments arrive token by token
    _check(json.loads(arguments), schema, Person)
    assert chunks[-1]["usage"] == whole["usage"]
    assert whole["usage"]["completion_tokens"] == count_text("fill", "demo") + count_text(
        arguments, "demo"
    )


def test_required_tool_choice_fills_the_first_tool() -> None:
    function = {"name": "f", "parameters": Address.model_json_schema()}
    tool = {"type": "function", "function": function}
    body = {"messages": MESSAGES, "tools": [tool], "tool_choice": "required"}
    (call,) = demo.completion(body, "demo")["choices"][0]["message"]["tool_calls"]
    Address.model_validate_json(call["function"]["arguments"])


def test_json_object_mode_answers_a_json_object_with_the_echo() -> None:
    body = {"messages": MESSAGES, "response_format": {"type": "json_object"}}
    content = demo.completion(body, "demo")["choices"][0]["message"]["content"]
    assert json.loads(content) == {"reply": demo.REPLY_PREFIX + MESSAGES[0]["content"]}
    text = {"messages": MESSAGES, "response_format": {"type": "text"}}
    assert demo.completion(text, "demo")["choices"][0]["message"]["content"].startswith("Hello")


def test_max_tokens_cuts_the_json_with_finish_reason_length() -> None:
    body = {**_schema_body(Person.model_json_schema()), "max_tokens": 5}
    reply = demo.completion(body, "demo")
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 5


def test_simple_patterns_are_matched() -> None:
    import random
    import re

    patterns = [
        r"^\d{3}-\d{4}$",
        r"^[a-z]+@[a-z]+\.(com|org)$",
        r"^(?:\+?1)?[2-9]\d{2}[2-9]\d{6}$",
        r"^[^@\s]+@[^@\s]+$",
        r"^\w{2,5}\s\W$",
        r"^(ab|cd)\1$",
        r"x.y?z*",
        r"^[A-Z][a-z]*( [A-Z][a-z]*)*$",
    ]
    for pattern in patterns:
        for seed in range(20):
            text = sample_pattern(pattern, random.Random(seed))
            assert text is not None and re.search(pattern, text), (pattern, text)
    for unsupported in (r"^(?=a)a$", r"(?<!x)y", r"\p{L}+", "a" * 1000, r"[^\D]"):
        assert sample_pattern(unsupported, random.Random(0)) is None
