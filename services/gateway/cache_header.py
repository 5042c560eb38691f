"""The request header `X-Tollgate-Cache: use|skip`: whether the router's response
cache may answer this call (docs/cache.md). Absent, the cache answers deterministic
requests (temperature 0) when it is enabled; any other value is a 400."""

from __future__ import annotations

from starlette.requests import Request

from services.gateway.errors import bad_request
from tollgate.v1 import common_pb2

HEADER = "x-tollgate-cache"
MODES = {"use": common_pb2.CACHE_MODE_USE, "skip": common_pb2.CACHE_MODE_SKIP}


def requested_cache_mode(request: Request) -> common_pb2.CacheMode:
    value = request.headers.get(HEADER)
    if value is None:
        return common_pb2.CACHE_MODE_DEFAULT
    mode = MODES.get(value.strip().lower())
    if mode is None:
        raise bad_request(
            "The X-Tollgate-Cache header must be `use` or `skip`.",
            param="X-Tollgate-Cache",
            code="invalid_header",
        )
    return mode
