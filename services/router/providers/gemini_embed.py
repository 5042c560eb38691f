"""OpenAI embeddings requests to Gemini's `batchEmbedContents`, and the answer back.

Each input becomes one `EmbedContentRequest` (`{model, content: {parts: [{text}]}}`,
with `outputDimensionality` for `dimensions`); Gemini answers `embeddings[].values`
in the same order. Gemini embeds text only, so token-id inputs are a 400. It sends
floats only: `encoding_format: base64` is produced here, as OpenAI does it
(little-endian float32). `user` and unknown fields are dropped.

Usage: newer API versions add `usageMetadata.promptTokenCount`; without it the
input is counted with the tokenizer, and the call is billed as estimated.
"""

from __future__ import annotations

from typing import Any

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    EmbedCall,
    UpstreamError,
    upstream_failed,
)
from tollgate import embeddings
from tollgate.v1 import common_pb2


def _resource(model: str) -> str:
    return "models/" + model.removeprefix("models/")


def embed_request(body: JSON, model: str) -> JSON:
    """The `BatchEmbedContentsRequest` for an OpenAI embeddings request body."""
    dimensions = body.get("dimensions")
    requests = []
    for index, item in enumerate(embeddings.items(body.get("input"))):
        if not isinstance(item, str):
            raise UpstreamError(
                400,
                INVALID_REQUEST,
                "unsupported_input",
                "Gemini embedding models take text: send strings, not token ids.",
                f"input[{index}]" if isinstance(body.get("input"), list) else "input",
            )
        request: JSON = {"model": _resource(model), "content": {"parts": [{"text": item}]}}
        if isinstance(dimensions, int) and not isinstance(dimensions, bool):
            request["outputDimensionality"] = dimensions
        requests.append(request)
    return {"requests": requests}


def _values(embedding: Any) -> list[float]:
    values = embedding.get("values") if isinstance(embedding, dict) else None
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise upstream_failed("The upstream provider sent an unexpected embedding.")
    return [float(v) for v in values]


def _prompt_tokens(data: JSON) -> int | None:
    metadata = data.get("usageMetadata")
    count = metadata.get("promptTokenCount") if isinstance(metadata, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def embed_response(data: JSON, call: EmbedCall) -> tuple[JSON, common_pb2.Usage | None]:
    """OpenAI's embeddings response for a `BatchEmbedContentsResponse`, and the usage
    Gemini reported (None when it reported none: the body then holds the count)."""
    inputs = embeddings.items(call.body.get("input"))
    answers = data.get("embeddings")
    if not isinstance(answers, list) or len(answers) != len(inputs):
        raise upstream_failed("The upstream provider sent the wrong number of embeddings.")
    vectors = [_values(answer) for answer in answers]
    reported = _prompt_tokens(data)
    tokens = (
        reported if reported is not None else embeddings.count_tokens(inputs, call.served_model)
    )
    encoding_format = call.body.get("encoding_format") or "float"
    body = embeddings.response(vectors, call.served_model, tokens, encoding_format)
    usage = None if reported is None else common_pb2.Usage(prompt_tokens=reported)
    return body, usage
