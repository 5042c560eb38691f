"""OpenAI's embeddings format, shared by the gateway and the router.

An embeddings request's `input` is a string, a list of strings, a list of token ids,
or a list of token-id lists. `items` turns any of them into one item an input (a
string or a token-id list); `count_tokens` counts what an upstream bills for them;
`response` builds the answer, its vectors as float lists or as base64 of
little-endian float32. (The demo model's vectors live with the router's demo
provider, services/router/providers/demo/vectors.py.)
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

from tollgate.tokens import count_text

JSON = dict[str, Any]
Item = str | list[int]

MAX_INPUTS = 2048
ENCODING_FORMATS = ("float", "base64")


def items(value: Any) -> list[Item]:
    """The inputs of a valid `input` field, one item each (see `input_error`)."""
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(v, int) for v in value):
        return [list(value)]
    return [v if isinstance(v, str) else list(v) for v in value]


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def input_error(value: Any) -> str | None:
    """Why `input` is not a valid embeddings input, or None when it is."""
    if isinstance(value, str):
        return None if value else "'input' must not be an empty string."
    if not isinstance(value, list) or not value:
        return (
            "'input' must be a string, a list of strings, a list of token ids "
            "or a list of token-id lists, and must not be empty."
        )
    if len(value) > MAX_INPUTS:
        return f"'input' holds {len(value)} items; at most {MAX_INPUTS} are allowed."
    if all(_is_token(v) for v in value):
        return None
    for i, item in enumerate(value):
        if isinstance(item, str):
            if not item:
                return f"'input[{i}]' must not be an empty string."
        elif isinstance(item, list):
            if not item or not all(_is_token(t) for t in item):
                return f"'input[{i}]' must be a non-empty list of token ids (integers >= 0)."
        else:
            return f"'input[{i}]' must be a string or a list of token ids."
    if len({isinstance(item, str) for item in value}) > 1:
        return "'input' must not mix strings and token-id lists."
    return None


def count_tokens(inputs: Sequence[Item], model: str) -> int:
    """Input tokens of an embeddings call: text counted with the model's tokenizer,
    token ids as given."""
    return sum(count_text(i, model) if isinstance(i, str) else len(i) for i in inputs)


def encode_base64(vector: Sequence[float]) -> str:
    """A vector as OpenAI sends it for `encoding_format: base64`: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def decode_base64(text: str) -> list[float]:
    data = base64.b64decode(text)
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def response(
    vectors: Sequence[Sequence[float]], model: str, prompt_tokens: int, encoding_format: str
) -> JSON:
    """OpenAI's embeddings response (`object: list`) for the vectors, in input order."""
    as_base64 = encoding_format == "base64"
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": encode_base64(vector) if as_base64 else list(vector),
            }
            for index, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
