"""The Batch API's routes as services/gateway/openapi.py describes them: /v1/files and
/v1/batches, with the project key, in OpenAI's shapes."""

from __future__ import annotations

from typing import Any

from services.gateway.openapi_schemas import ANY_OBJECT, JSON, obj, ref

PUBLIC: list[JSON] = [{"projectKey": []}, {"projectApiKey": []}]
ENDPOINTS = ["/v1/chat/completions", "/v1/embeddings", "/v1/responses"]


def _operation(summary: str, *, media: str = "application/json", **extra: Any) -> JSON:
    failure = {"description": "an error", "content": {"application/json": {"schema": ref("Error")}}}
    ok = {"type": "string"} if media != "application/json" else ANY_OBJECT
    return {
        "summary": summary,
        "security": PUBLIC,
        "responses": {
            "200": {"description": "success", "content": {media: {"schema": ok}}},
            "4XX": failure,
            "5XX": failure,
        },
        **extra,
    }


def _path(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: JSON) -> JSON:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def batch_paths() -> JSON:
    upload = obj(
        {
            "file": {"type": "string", "format": "binary"},
            "purpose": {"enum": ["batch"]},
        },
        ("file", "purpose"),
    )
    create = obj(
        {
            "input_file_id": {"type": "string", "minLength": 1},
            "endpoint": {"enum": ENDPOINTS},
            "completion_window": {"enum": ["24h"]},
            "metadata": {
                "type": ["object", "null"],
                "maxProperties": 16,
                "additionalProperties": {"type": "string", "maxLength": 512},
            },
        },
        ("input_file_id", "endpoint", "completion_window"),
    )
    after = _query("after", {"type": "string"})
    file_id, batch_id = _path("file_id"), _path("batch_id")
    return {
        "/v1/files": {
            "post": _operation(
                "upload a file (multipart; purpose batch: JSONL of batch requests)",
                requestBody={
                    "required": True,
                    "content": {"multipart/form-data": {"schema": upload}},
                },
            ),
            "get": _operation(
                "the project's files, newest first",
                parameters=[
                    after,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
                    _query("order", {"enum": ["asc", "desc"]}),
                    _query("purpose", {"type": "string"}),
                ],
            ),
        },
        "/v1/files/{file_id}": {
            "get": _operation("one of the project's files", parameters=[file_id]),
            "delete": _operation("delete one of the project's files", parameters=[file_id]),
        },
        "/v1/files/{file_id}/content": {
            "get": _operation(
                "a file's bytes", media="application/octet-stream", parameters=[file_id]
            )
        },
        "/v1/batches": {
            "post": _operation(
                "create a batch from an uploaded file; every line is held with Budget first",
                requestBody={"required": True, "content": {"application/json": {"schema": create}}},
            ),
            "get": _operation(
                "the project's batches, newest first",
                parameters=[
                    after,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                ],
            ),
        },
        "/v1/batches/{batch_id}": {"get": _operation("one batch", parameters=[batch_id])},
        "/v1/batches/{batch_id}/cancel": {
            "post": _operation(
                "cancel a batch: lines not yet run are released", parameters=[batch_id]
            )
        },
    }
