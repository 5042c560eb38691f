"""Which request field a refusal is about: a service that refuses a request with
INVALID_ARGUMENT (or FAILED_PRECONDITION) names the field at fault in the trailing
metadata `tollgate-param`, so an HTTP front can fill OpenAI's `param` and a CLI can
name the option."""

from __future__ import annotations

import grpc

PARAM_KEY = "tollgate-param"


def param_of(error: grpc.RpcError) -> str:
    """The field a refusal names ("" when it names none)."""
    trailing = getattr(error, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == PARAM_KEY:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return ""
