"""A sample value for a JSON schema: what the demo model fills structured answers with.

`sample(schema, seed)` returns a JSON value that validates against `schema` for the
schemas clients send (those pydantic, zod and OpenAI's strict mode make): objects
with every property, the required ones first; strings honouring enum, const, format,
simple patterns and lengths; integers and numbers inside their bounds and multipleOf;
booleans, nulls, arrays within minItems/maxItems; anyOf, oneOf and allOf; `$ref` into
`$defs`/`definitions` (or any local JSON pointer); nullable types. The same schema and
seed give the same value.

The work is bounded whatever the schema: past SOFT_DEPTH levels or SOFT_NODES values
only what a schema requires is filled (the null branch of a union, the fewest items),
and past HARD_DEPTH or HARD_NODES every further value is null, so a hostile schema
(deep, recursive, huge) gets a small answer quickly, valid or not.
"""

from __future__ import annotations

import math
import random
import urllib.parse
import uuid
from typing import Any

from services.router.providers.demo.number_sample import exact as _number
from services.router.providers.demo.number_sample import integer, number
from services.router.providers.demo.pattern_sample import sample_pattern

SOFT_DEPTH = 8
HARD_DEPTH = 40
SOFT_NODES = 300
HARD_NODES = 2000
MAX_REF_HOPS = 32
MAX_ALL_OF = 32
MAX_STRING = 1024
MAX_TEXT = 32768  # characters of all strings, past which each is as short as it may be
MAX_ITEMS = 64
DEFAULT_ITEMS = 2
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def sample(schema: Any, seed: int) -> Any:
    """A value for `schema` (see the module's docstring); the same for the same seed."""
    return _Sampler(schema, seed).value(schema, 0)


def _size(value: Any, cap: int, default: int) -> int:
    """A count bound (minItems, maxLength...) as an int from 0 to `cap`."""
    number = _number(value)
    if number is None:
        return default
    return max(0, min(math.ceil(number), cap))


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One schema that asks what both ask (as far as sampling needs): properties and
    required lists joined, the tighter of two bounds, the types both allow."""
    merged = dict(a)
    for key, value in b.items():
        if key not in merged:
            merged[key] = value
        elif key == "properties" and isinstance(value, dict) and isinstance(merged[key], dict):
            props = dict(merged[key])
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            merged[key] = props
        elif key == "required" and isinstance(value, list) and isinstance(merged[key], list):
            merged[key] = list(dict.fromkeys([*merged[key], *value]))
        elif key in _LOWER or key in _UPPER:
            x, y = _number(merged[key]), _number(value)
            if x is not None and y is not None:
                merged[key] = max(merged[key], value) if key in _LOWER else min(merged[key], value)
        elif key == "type":
            mine = merged[key] if isinstance(merged[key], list) else [merged[key]]
            theirs = value if isinstance(value, list) else [value]
            both = [t for t in mine if t in theirs or (t == "integer" and "number" in theirs)]
            both += [t for t in theirs if t == "integer" and "number" in mine and t not in both]
            merged[key] = both or mine
    return merged


class _Sampler:
    def __init__(self, root: Any, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.nodes = 0
        self.chars = 0
        self.active: list[str] = []  # the $refs being filled, outermost first

    def spent(self) -> bool:
        return self.nodes >= HARD_NODES

    def value(self, schema: Any, depth: int, name: str = "", lean: bool = False) -> Any:
        """A value for `schema`; `lean` (a recursion, or a spent budget) fills only what
        is required."""
        self.nodes += 1
        if depth > HARD_DEPTH or self.nodes > HARD_NODES:
            return None
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str):
            return self.resolved(self.resolve(schema), depth, name, lean)
        lean = lean or ref in self.active  # a recursive model: the shortest way out
        self.active.append(ref)
        try:
            return self.resolved(self.resolve(schema), depth, name, lean)
        finally:
            self.active.pop()

    def resolved(self, schema: Any, depth: int, name: str, lean: bool) -> Any:
        if schema is False:
            return None
        if not isinstance(schema, dict):
            return self.word(name)
        shrink = lean or depth > SOFT_DEPTH or self.nodes > SOFT_NODES
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in all_of[:MAX_ALL_OF]:
                part = self.resolve(part)
                if isinstance(part, dict):
                    merged = _merge(merged, part)
            return self.value(merged, depth + 1, name, shrink)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return self.pick(enum, shrink)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in schema.items() if k != key}
                branch = self.resolve(self.pick(branches, shrink))
                merged = _merge(rest, branch) if isinstance(branch, dict) else branch
                return self.value(merged, depth + 1, name, shrink)
        kind = self.type_of(schema, shrink)
        if kind == "object":
            return self.object(schema, depth, shrink)
        if kind == "array":
            return self.array(schema, depth, shrink)
        if kind == "string":
            return self.string(schema, name)
        if kind == "integer":
            return integer(schema, self.rng)
        if kind == "number":
            return number(schema, self.rng)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.word(name)

    def resolve(self, schema: Any) -> Any:
        """`schema` with its `$ref`s followed (siblings of a `$ref` kept, as in JSON
        Schema 2019+); an unresolvable or endless chain becomes the empty schema."""
        for _ in range(MAX_REF_HOPS):
            if not isinstance(schema, dict) or not isinstance(schema.get("$ref"), str):
                return schema
            target = self.pointer(schema["$ref"])
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            if not isinstance(target, dict):
                return target if not siblings else siblings
            schema = _merge(siblings, target) if siblings else target
        return {}

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for raw in ref[1:].split("/")[1:]:
            part = urllib.parse.unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def pick(self, options: list[Any], shrink: bool) -> Any:
        """One of a union's branches or an enum's values: the null one when shrinking
        (it ends a recursion), else a seeded choice among the others."""
        nulls = [o for o in options if o is None or o == {"type": "null"}]
        if shrink and nulls:
            return nulls[0]
        others = [o for o in options if o not in nulls] or options
        return others[self.rng.randrange(len(others))]

    def type_of(self, schema: dict[str, Any], shrink: bool) -> str | None:
        kind = schema.get("type")
        if isinstance(kind, list):
            named = [k for k in kind if isinstance(k, str)]
            if shrink and "null" in named:
                return "null"
            kind = next((k for k in named if k != "null"), named[0] if named else None)
        if isinstance(kind, str):
            if shrink and schema.get("nullable") is True:
                return "null"
            return kind
        if any(k in schema for k in ("properties", "required", "additionalProperties")):
            return "object"
        if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
            return "array"
        if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
            return "string"
        if any(k in schema for k in (*_LOWER[:2], *_UPPER[:2], "multipleOf")):
            return "number"
        return None

    def object(self, schema: dict[str, Any], depth: int, shrink: bool) -> dict[str, Any]:
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = schema.get("required")
        required = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        extra = schema.get("additionalProperties", True)
        most = _size(schema.get("maxProperties"), HARD_NODES, HARD_NODES)
        result: dict[str, Any] = {}
        for name in dict.fromkeys(required):
            if self.spent():
                return result
            result[name] = self.value(props.get(name, extra), depth + 1, name, shrink)
        for name, sub in props.items():
            if self.spent() or shrink or self.nodes > SOFT_NODES:
                break
            if name not in result and len(result) < most:
                result[name] = self.value(sub, depth + 1, name, shrink)
        fewest = _size(schema.get("minProperties"), MAX_ITEMS, 0)
        while len(result) < fewest and extra is not False:
            if self.spent():
                break
            key = f"{self.word('')}_{len(result)}"
            sub = extra if isinstance(extra, dict) else {}
            result[key] = self.value(sub, depth + 1, key, shrink)
        return result

    def array(self, schema: dict[str, Any], depth: int, shrink: bool) -> list[Any]:
        prefix = schema.get("prefixItems", schema.get("items"))
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items") if not isinstance(schema.get("items"), list) else None
        if items is None and prefix:
            items = schema.get("additionalItems", {})
        low = _size(schema.get("minItems"), MAX_ITEMS, 0)
        high = _size(schema.get("maxItems"), MAX_ITEMS, MAX_ITEMS)
        count = low if shrink else max(low, min(max(DEFAULT_ITEMS, len(prefix)), high))
        if items is False:
            count = min(count, len(prefix))
        contains = schema.get("contains")
        result: list[Any] = []
        seen: set[str] = set()
        for index in range(count):
            if self.spent():
                break
            sub = prefix[index] if index < len(prefix) else (items if items is not None else {})
            if index == 0 and isinstance(contains, dict):
                sub = _merge(contains, sub) if isinstance(sub, dict) else contains
            for _attempt in range(4):
                value = self.value(sub, depth + 1, "", shrink)
                if schema.get("uniqueItems") is not True or repr(value) not in seen:
                    break
            if schema.get("uniqueItems") is True and repr(value) in seen and index >= low:
                break
            seen.add(repr(value))
            result.append(value)
        return result

    def word(self, name: str) -> str:
        return WORDS[self.rng.randrange(len(WORDS))]

    def string(self, schema: dict[str, Any], name: str) -> str:
        form = schema.get("format")
        made = self.formatted(form) if isinstance(form, str) else None
        pattern = schema.get("pattern")
        if made is None and isinstance(pattern, str):
            made = sample_pattern(pattern, self.rng)
            if made is not None:
                return made
        text = made if made is not None else self.word(name)
        low = _size(schema.get("minLength"), MAX_STRING, 0)
        high = _size(schema.get("maxLength"), MAX_STRING, MAX_STRING)
        if len(text) < low:
            text = (text + " " + text * (low // max(len(text), 1) + 1))[:low]
        text = text[:high]
        if self.chars > MAX_TEXT:
            text = text[: max(low, 1)]
        self.chars += len(text)
        return text

    def formatted(self, form: str) -> str | None:
        n = self.rng.randrange(1, 29)
        word = self.word("")
        return {
            "date": f"2024-{n % 12 + 1:02d}-{n:02d}",
            "date-time": f"2024-{n % 12 + 1:02d}-{n:02d}T{n % 24:02d}:30:00Z",
            "time": f"{n % 24:02d}:30:00Z",
            "duration": f"P{n}D",
            "email": f"{word}@example.com",
            "idn-email": f"{word}@example.com",
            "hostname": f"{word}.example.com",
            "idn-hostname": f"{word}.example.com",
            "ipv4": f"192.0.2.{n}",
            "ipv6": f"2001:db8::{n:x}",
            "uri": f"https://example.com/{word}",
            "iri": f"https://example.com/{word}",
            "uri-reference": f"https://example.com/{word}",
            "iri-reference": f"https://example.com/{word}",
            "url": f"https://example.com/{word}",
            "uri-template": f"https://example.com/{{{word}}}",
            "uuid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "json-pointer": f"/{word}",
            "relative-json-pointer": f"0/{word}",
            "regex": f"^{word}$",
        }.get(form)
