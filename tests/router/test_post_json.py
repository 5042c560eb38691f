"""`post_json`, the one JSON POST every provider makes: the answer as sent and
parsed, and every failure as the client-facing UpstreamError."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from services.router.providers.base import UpstreamError
from services.router.providers.http import JSONAnswer, post_json

from .harness import run, scripted_client

URL = "http://upstream.test/v1/chat/completions"
HEADERS = {"content-type": "application/json"}
Handler = Callable[[httpx.Request], httpx.Response]


def post(handler: Handler, **kwargs: object) -> JSONAnswer:
    async def go() -> JSONAnswer:
        client = scripted_client(handler)
        try:
            return await post_json(client, URL, b'{"a":1}', HEADERS, **kwargs)  # type: ignore[arg-type]
        finally:
            await client.aclose()

    return run(go())


def failure(handler: Handler, **kwargs: object) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        post(handler, **kwargs)
    return caught.value


def test_the_answer_is_the_body_as_sent_and_the_object_it_holds() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b'{"id": "x"}')

    answer = post(handler)
    assert answer == JSONAnswer(raw=b'{"id": "x"}', data={"id": "x"})
    assert (
        seen[0].content == b'{"a":1}' and seen[0].headers["content-type"] == HEADERS["content-type"]
    )


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_an_answer_that_is_no_json_object_is_a_502(body: bytes) -> None:
    error = failure(lambda _: httpx.Response(200, content=body))
    assert (error.http_status, error.code) == (502, "upstream_error")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, (400, "bad")),
        (401, (502, "upstream_auth_failed")),
        (429, (429, "upstream_rate_limited")),
    ],
)
def test_an_error_status_is_mapped_in_the_clients_terms(
    status: int, expected: tuple[int, str]
) -> None:
    body = b'{"error": {"message": "no", "code": "bad"}}'
    error = failure(lambda _: httpx.Response(status, content=body))
    assert (error.http_status, error.code) == expected


def test_a_provider_maps_its_own_statuses() -> None:
    def overloaded(status: int, body: bytes) -> UpstreamError:
        return UpstreamError(429, "rate_limit_error", f"own_{status}", "busy")

    error = failure(lambda _: httpx.Response(529, content=b"{}"), error_for=overloaded)
    assert (error.http_status, error.code) == (429, "own_529")


def test_no_connection_is_a_502_and_a_timeout_a_504() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    assert failure(refused).code == "upstream_unavailable"
    assert (failure(slow).http_status, failure(slow).code) == (504, "upstream_timeout")
