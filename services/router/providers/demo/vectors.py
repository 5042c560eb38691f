"""The demo model's embeddings: one deterministic unit vector an input.

A vector is a function of the input alone, every component exact in float32, so a
vector sent as JSON floats and the same vector sent as base64 decode alike. Usage
is the input's tokens, counted with the served model's tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct

from tollgate.embeddings import (
    ENCODING_FORMATS,
    JSON,
    Item,
    count_tokens,
    input_error,
    items,
    response,
)

DEMO_DIMENSIONS = 16
MAX_DEMO_DIMENSIONS = 3072


def _float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def vector(item: Item, dimensions: int = DEMO_DIMENSIONS) -> list[float]:
    """The demo model's unit vector for one input: a function of the input alone,
    every component exact in float32."""
    seed = hashlib.sha256(json.dumps(item).encode()).digest()
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        block = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        raw.extend(n / 2**31 - 1.0 for n in struct.unpack("<8I", block))
        counter += 1
    del raw[dimensions:]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [_float32(x / norm) for x in raw]


def refusal(body: JSON) -> tuple[str, str] | None:
    """Why the demo model refuses a request: (param, message), or None."""
    problem = input_error(body.get("input"))
    if problem is not None:
        return "input", problem
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        not isinstance(dimensions, int)
        or isinstance(dimensions, bool)
        or not 1 <= dimensions <= MAX_DEMO_DIMENSIONS
    ):
        return "dimensions", f"'dimensions' must be an integer from 1 to {MAX_DEMO_DIMENSIONS}."
    if body.get("encoding_format", "float") not in (*ENCODING_FORMATS, None):
        return "encoding_format", "'encoding_format' must be 'float' or 'base64'."
    return None


def answer(body: JSON, model: str) -> JSON:
    """The demo model's answer to a valid embeddings request (see `refusal`):
    one deterministic vector an input, usage counted with `model`'s tokenizer."""
    inputs = items(body["input"])
    dimensions = body.get("dimensions") or DEMO_DIMENSIONS
    vectors = [vector(item, dimensions) for item in inputs]
    encoding_format = body.get("encoding_format") or "float"
    return response(vectors, model, count_tokens(inputs, model), encoding_format)
