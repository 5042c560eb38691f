"""OpenAI's Batch API at the gateway (docs/batches.md): /v1/files and /v1/batches,
clients of the router's Files and Batches services; a batch's lines are checked and
reserved with Budget here, before the router accepts it."""

from __future__ import annotations

from starlette.routing import Route

from services.gateway.batches.batches import batches_routes
from services.gateway.batches.deps import BatchDeps
from services.gateway.batches.files import files_routes
from services.gateway.error_handlers import openai_errors


def batch_api_routes(api: BatchDeps) -> list[Route]:
    files = {name: openai_errors(h) for name, h in files_routes(api).items()}
    batches = {name: openai_errors(h) for name, h in batches_routes(api).items()}
    return [
        Route("/v1/files", files["upload"], methods=["POST"]),
        Route("/v1/files", files["list"], methods=["GET"]),
        Route("/v1/files/{file_id}", files["retrieve"], methods=["GET"]),
        Route("/v1/files/{file_id}", files["delete"], methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", files["content"], methods=["GET"]),
        Route("/v1/batches", batches["create"], methods=["POST"]),
        Route("/v1/batches", batches["list"], methods=["GET"]),
        Route("/v1/batches/{batch_id}", batches["retrieve"], methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", batches["cancel"], methods=["POST"]),
    ]


__all__ = ["BatchDeps", "batch_api_routes"]
