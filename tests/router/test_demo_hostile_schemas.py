"""The demo model facing hostile schemas: deep, recursive, self-referring, huge bounds,
regex bombs, nonsense and any JSON at all as a schema. Each gets a small answer that
is valid JSON, quickly, and nothing raises."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.router.providers.demo import model as demo
from services.router.providers.demo.schema_sample import HARD_NODES, sample

MESSAGES = [{"role": "user", "content": "Fill the form, please."}]


def _schema_body(schema: Any) -> dict[str, Any]:
    spec = {"name": "answer", "schema": schema, "strict": True}
    return {"messages": MESSAGES, "response_format": {"type": "json_schema", "json_schema": spec}}


def _tool_body(schema: Any) -> dict[str, Any]:
    tool = {"type": "function", "function": {"name": "fill", "parameters": schema}}
    return {"messages": MESSAGES, "tools": [tool], "tool_choice": "required"}


def _deep(depth: int) -> dict[str, Any]:
    """A schema nested `depth` objects deep (a tree, as a parsed body is)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        leaf = {"type": "array", "items": {"type": "string"}, "minItems": 3}
        schema = {"type": "object", "properties": {"x": schema, "y": leaf}, "required": ["x"]}
    return schema


HOSTILE: list[Any] = [
    _deep(400),
    {"$ref": "#"},
    {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}},
    {"allOf": [{"$ref": "#"}]},
    {"anyOf": [{"$ref": "#"}, {"$ref": "#"}]},
    {
        "type": "object",
        "properties": {f"p{i}": {"$ref": "#"} for i in range(50)},
        "required": [f"p{i}" for i in range(50)],
    },
    {"type": "array", "minItems": 10**12, "items": {"$ref": "#"}},
    {"type": "string", "minLength": 10**12},
    {"type": "string", "pattern": "((((((a*)*)*)*)*)*)*b{1000000}"},
    {"type": "string", "pattern": "(" * 200 + ")" * 200},
    {"type": "integer", "minimum": 1e308, "multipleOf": 1e-300},
    {"type": "number", "minimum": -1e308, "maximum": 1e308, "multipleOf": 1e-308},
    {"type": "number", "multipleOf": 1e308, "minimum": 1e308},
    {"type": "object", "minProperties": 10**9, "additionalProperties": {"$ref": "#"}},
    {"type": "object", "required": ["a"] * 100000},
    {"allOf": [{"type": "integer"}] * 100000},
    {"$ref": "https://example.com/elsewhere.json"},
    {"$ref": "#/not/there"},
    {"type": ["null"], "properties": 5, "items": "x", "enum": []},
    {"type": "number", "minimum": float("inf")},
    {"type": "number", "minimum": 1.7976931348623157e308},
    {"type": "number", "exclusiveMaximum": -1.7976931348623157e308},
    {"type": "integer", "minimum": 1e308, "maximum": 1e308, "multipleOf": 3},
    {"type": 7, "required": [None, 1], "minLength": "3"},
]


@pytest.mark.parametrize("schema", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_a_hostile_schema_gets_a_small_answer_quickly(schema: Any) -> None:
    demo.completion({"messages": MESSAGES}, "demo")  # the tokenizer loads outside the clock
    started = time.perf_counter()
    for body in (_schema_body(schema), _tool_body(schema)):
        reply = demo.completion(body, "demo")
        assert len(demo.dumps(reply)) < 200_000
        json.loads(demo.dumps(reply))  # valid JSON: no NaN, no Infinity
    assert time.perf_counter() - started < 3


_keywords = st.sampled_from(
    ["type", "properties", "items", "anyOf", "oneOf", "allOf", "$ref", "required", "enum"]
)
_leaves = st.one_of(
    st.sampled_from(["object", "array", "string", "integer", "number", "null", "#", "#/a"]),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
_schemas_strategy = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_keywords | st.text(max_size=3), inner)
    ),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_schemas_strategy)
def test_any_json_as_a_schema_answers_json_and_never_raises(schema: Any) -> None:
    for body in (_schema_body(schema), _tool_body(schema)):
        reply = demo.completion(body, "demo")
        message = reply["choices"][0]["message"]
        text = message["content"] or message["tool_calls"][0]["function"]["arguments"]
        json.loads(text)


def test_the_node_budget_bounds_a_wide_schema() -> None:
    schema = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(10**4)}}
    value = sample(schema, 0)
    assert 0 < len(value) <= HARD_NODES
