"""Errors in OpenAI's error JSON: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.responses import Response

from services.gateway.request_id import id_headers


class ApiError(Exception):
    """An error the client sees; raised anywhere in a handler, answered by the app."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self, request_id: str | None = None) -> Response:
        headers = dict(self.headers)
        if request_id:
            headers.update(id_headers(request_id))
        return Response(
            json.dumps(self.body()),
            status_code=self.status,
            media_type="application/json",
            headers=headers,
        )


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def invalid_key(message: str = "Incorrect API key provided.") -> ApiError:
    return ApiError(401, message, code="invalid_api_key")


def unknown_model(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def budget_exceeded(message: str) -> ApiError:
    # x-should-retry tells the OpenAI SDKs not to retry: waiting will not help before the reset.
    return ApiError(
        429,
        message,
        type="insufficient_quota",
        code="budget_exceeded",
        headers={"x-should-retry": "false"},
    )


def unavailable(what: str) -> ApiError:
    return ApiError(
        503,
        f"tollgate's {what} service is unavailable; try again shortly.",
        type="server_error",
        code="service_unavailable",
    )
