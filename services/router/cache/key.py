"""Which requests the cache may answer, and the key they are stored under.

The key is a SHA-256 of the canonical JSON of the request body with the served model
in place of the asked name, minus the fields that never change the answer (how it
is delivered, who asked, how the provider may store it). Every other field counts:
messages, temperature, top_p, max_tokens, tools, tool_choice, response_format, seed,
stop, n, logprobs and any field tollgate does not know. Integral floats are written
as integers, so `"temperature": 0` and `0.0` share an entry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tollgate.v1 import common_pb2

IGNORED_FIELDS = frozenset(
    {"stream", "stream_options", "user", "metadata", "service_tier", "store"}
)


def cache_key(served_model: str, body: dict[str, Any]) -> str:
    canonical = {k: _normal(v) for k, v in body.items() if k not in IGNORED_FIELDS}
    canonical["model"] = served_model
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cacheable(body: dict[str, Any], mode: common_pb2.CacheMode) -> bool:
    """Whether the cache may answer (and then store) this request: never when the
    client sends `X-Tollgate-Cache: skip`; always with `use`; otherwise only when the
    answer is deterministic (temperature 0)."""
    if mode == common_pb2.CACHE_MODE_SKIP:
        return False
    if mode == common_pb2.CACHE_MODE_USE:
        return True
    temperature = body.get("temperature")
    return (
        isinstance(temperature, int | float)
        and not isinstance(temperature, bool)
        and temperature == 0
    )


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value
