"""The one interface every upstream provider implements, in OpenAI's wire format.

A provider takes a chat completion request body (already aimed at the served
model), calls its upstream, and answers in OpenAI's format: one `Completion` for a
non-streaming call, or `StreamChunk`s for a streaming one. It reports the upstream's
usage when the upstream gives it, and raises `UpstreamError` for every failure, in
the terms the client will see. `embed` answers an embeddings request the same way,
in OpenAI's embeddings format; a provider without embeddings raises a 400.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol

from tollgate.v1 import common_pb2

JSON = dict[str, Any]

# Error types as OpenAI's error JSON spells them.
INVALID_REQUEST = "invalid_request_error"
RATE_LIMIT = "rate_limit_error"
SERVER_ERROR = "server_error"


class UpstreamError(Exception):
    """A failed upstream call, as the client should see it (OpenAI's error JSON)."""

    def __init__(
        self, http_status: int, type: str, code: str, message: str, param: str = ""
    ) -> None:
        super().__init__(f"{http_status} {code}: {message}")
        self.http_status = http_status
        self.type = type
        self.code = code
        self.message = message
        self.param = param

    def to_proto(self) -> common_pb2.Error:
        return common_pb2.Error(
            http_status=self.http_status,
            type=self.type,
            code=self.code,
            message=self.message,
            param=self.param,
        )


def upstream_failed(message: str = "The upstream provider failed.") -> UpstreamError:
    return UpstreamError(502, SERVER_ERROR, "upstream_error", message)


# What a failed connection is, whichever HTTP client met it (providers/http_*.py).
def upstream_timed_out() -> UpstreamError:
    return UpstreamError(504, SERVER_ERROR, "upstream_timeout", "The upstream provider timed out.")


def upstream_unreachable() -> UpstreamError:
    return UpstreamError(
        502, SERVER_ERROR, "upstream_unavailable", "The upstream provider cannot be reached."
    )


def upstream_proxy_failed() -> UpstreamError:
    # The proxy refused or broke the tunnel: this deployment's line is down.
    return UpstreamError(
        502, SERVER_ERROR, "upstream_proxy_failed", "The proxy to the upstream provider failed."
    )


def connection_failed() -> UpstreamError:
    return upstream_failed("The connection to the upstream provider failed.")


@dataclass(frozen=True)
class ChatCall:
    """One chat completion to make: the client's body and what serves it."""

    request_id: str
    served_model: str
    body: JSON  # the client's request body; providers must not mutate it


@dataclass(frozen=True)
class Completion:
    """A non-streaming answer: the response body to send and what it holds."""

    body: bytes  # JSON, as the client will receive it
    data: JSON  # the same, parsed
    usage: common_pb2.Usage | None  # None when the upstream reported none


@dataclass(frozen=True)
class StreamChunk:
    """One streamed `chat.completion.chunk`."""

    raw: bytes  # JSON, as the upstream sent it
    data: JSON  # the same, parsed
    usage: common_pb2.Usage | None  # set on the chunk that carries usage


@dataclass(frozen=True)
class EmbedCall:
    """One embeddings call to make: the client's body (OpenAI's embeddings request,
    already validated) and the model that serves it."""

    request_id: str
    served_model: str
    body: JSON  # providers must not mutate it


@dataclass(frozen=True)
class Embeddings:
    """An embeddings answer in OpenAI's format, and the input tokens it billed."""

    body: bytes  # JSON, as the client will receive it
    usage: common_pb2.Usage | None  # None when the upstream reported none


def embeddings_not_supported(provider: str) -> UpstreamError:
    return UpstreamError(
        400,
        INVALID_REQUEST,
        "embeddings_not_supported",
        f"The model is served by {provider}, which has no embeddings API; "
        "use an embedding model of another provider.",
        "model",
    )


class Provider(Protocol):
    name: str

    async def complete(self, call: ChatCall) -> Completion:
        """Make a non-streaming call. Raises UpstreamError."""
        ...

    def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        """Make a streaming call; the upstream is asked to report usage. Raises
        UpstreamError while iterating. Closing the generator early (`aclose`) must
        close the upstream connection at once, so the upstream stops generating."""
        ...

    async def embed(self, call: EmbedCall) -> Embeddings:
        """Make an embeddings call. Raises UpstreamError (a 400 when the provider
        cannot embed)."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once at shutdown."""
        ...


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from(data: JSON) -> common_pb2.Usage | None:
    """The usage block of an OpenAI response or chunk, if it has one."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    if not isinstance(prompt_details, dict):
        prompt_details = {}
    return common_pb2.Usage(
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        cached_tokens=_int(prompt_details.get("cached_tokens")),
        # OpenRouter's (and tollgate's Anthropic provider's) count of cache writes.
        cache_write_tokens=_int(prompt_details.get("cache_write_tokens")),
        reasoning_tokens=_int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0,
    )
