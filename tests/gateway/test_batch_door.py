"""The Batch API's checks at the door, without the suite: an upload is capped while it
is read (a 413 before the whole body arrives), a batch input file must be UTF-8 text
without NUL bytes and within the line cap, and a batch's lines are checked as OpenAI
checks them, each error naming its line and field, hostile lines (deep, huge, NUL,
lone surrogates) included; nothing here is ever a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from services.gateway.batches.files import check_batch_file
from services.gateway.batches.jsonl import request_lines
from services.gateway.batches.lines import CHAT, EMBEDDINGS, RESPONSES, parse_lines, price_lines
from services.gateway.batches.multipart import read_form
from services.gateway.error_handlers import openai_errors
from services.gateway.errors import ApiError
from services.gateway.policy_cache import NO_KEY_RULES, NO_PROJECT_RULES, ProjectRules
from tollgate.config import Route as ModelRoute

CAP = 1000


def line(custom_id: Any = "a", **changes: Any) -> bytes:
    request = {
        "custom_id": custom_id,
        "method": "POST",
        "url": CHAT,
        "body": {"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
        **changes,
    }
    return json.dumps(request).encode()


def errors_of(content: bytes, endpoint: str = CHAT, max_lines: int = 50) -> list[tuple[int, str]]:
    checked = parse_lines(content, endpoint, max_lines)
    return [(e.line, e.param) for e in checked.errors]


@pytest.fixture
def http() -> TestClient:
    async def upload(request: Request) -> Response:
        form = await read_form(request, CAP)
        return JSONResponse({"size": len(form.file), "fields": list(form.fields)})

    app = Starlette(routes=[Route("/up", openai_errors(upload), methods=["POST"])])
    return TestClient(app)


def test_an_upload_within_the_cap_is_read_whole(http: TestClient) -> None:
    answer = http.post("/up", files={"file": ("a.jsonl", b"x" * CAP)}, data={"purpose": "batch"})
    assert answer.status_code == 200
    assert answer.json() == {"size": CAP, "fields": ["purpose"]}


def test_an_upload_past_the_cap_is_a_413_while_reading(http: TestClient) -> None:
    answer = http.post("/up", files={"file": ("a.jsonl", b"x" * (CAP + 1))})
    assert answer.status_code == 413
    assert answer.json()["error"]["param"] == "file"

    def endless() -> Any:  # no Content-Length: the cap holds while reading
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
        for _ in range(100):
            yield b"y" * 4096

    streamed = http.post(
        "/up",
        content=endless(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413


def test_a_body_that_is_not_a_form_is_a_400(http: TestClient) -> None:
    assert http.post("/up", json={"file": "x"}).status_code == 400
    broken = http.post(
        "/up",
        content=b"--b\r\nnot a header line\r\n\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code == 400
    huge_field = http.post("/up", files={"file": ("f", b"{}")}, data={"purpose": "p" * 5000})
    assert huge_field.status_code == 400


def test_a_batch_file_must_be_utf8_text_without_nul_within_the_line_cap() -> None:
    check_batch_file(line() + b"\n" + line("b") + b"\n\n", 2)
    for content, words in [
        (line() + b"\x00", "NUL"),
        (b"\xff\xfe" + line(), "UTF-8"),
        (b"\n \n", "no requests"),
        (b"\n".join(line(str(i)) for i in range(3)), "at most 2"),
    ]:
        with pytest.raises(ApiError) as refused:
            check_batch_file(content, 2)
        assert refused.value.status == 400 and words in refused.value.message


def test_blank_lines_are_skipped_and_numbers_are_the_files() -> None:
    assert [n for n, _ in request_lines(b"\n" + line() + b"\r\n\n" + line("b"))] == [2, 4]


def test_each_bad_line_is_named_with_its_field() -> None:
    content = b"\n".join(
        [
            line("a"),
            line("a"),  # duplicate
            line(""),
            line(7),
            line("x" * 513),
            line("n\u0000ul"),
            line("m", method="GET"),
            line("u", url=EMBEDDINGS),
            line("b", body=[1]),
            line("s", body={"model": "demo", "messages": [], "stream": True}),
            line(
                "t",
                body={
                    "model": "demo",
                    "messages": [{"role": "user", "content": "x"}],
                    "max_tokens": -1,
                },
            ),  # fmt: skip
            b"[1, 2]",
            b"{" * 200 + b"}" * 200,
            b'{"custom_id": "\\ud800", "method": "POST"}',
        ]
    )
    assert errors_of(content) == [
        (2, "custom_id"),
        (3, "custom_id"),
        (4, "custom_id"),
        (5, "custom_id"),
        (6, "custom_id"),
        (7, "method"),
        (8, "url"),
        (9, "body"),
        (10, "body.stream"),
        (11, "body.max_tokens"),
        (12, ""),
        (13, ""),
        (14, "custom_id"),
    ]


def test_too_many_lines_is_one_error() -> None:
    content = b"\n".join(line(str(i)) for i in range(6))
    assert errors_of(content, max_lines=5) == [(0, "")]
    assert errors_of(content, max_lines=6) == []


def test_embeddings_lines_are_checked_by_the_embeddings_door() -> None:
    good = {"custom_id": "e", "method": "POST", "url": EMBEDDINGS,
            "body": {"model": "demo-embedding", "input": ["a", "b"]}}  # fmt: skip
    bad = {**good, "custom_id": "f", "body": {"model": "demo-embedding", "input": []}}
    content = json.dumps(good).encode() + b"\n" + json.dumps(bad).encode()
    assert errors_of(content, EMBEDDINGS) == [(2, "body.input")]


def test_lines_are_priced_by_their_routes_and_the_projects_policy() -> None:
    content = b"\n".join(
        [
            line("a"),
            line("b", body={"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
            line(
                "c",
                body={
                    "model": "demo",
                    "messages": [{"role": "user", "content": "x"}],
                    "max_tokens": 500,
                },
            ),  # fmt: skip
        ]
    )
    routes = {"demo": ModelRoute("demo", "demo", "demo", "demo", ("demo",)), "nope": None}
    project = ProjectRules(max_tokens=100)
    checked = price_lines(parse_lines(content, CHAT, 10), CHAT, routes, project, NO_KEY_RULES)
    assert [(e.line, e.code) for e in checked.errors] == [
        (2, "model_not_found"),
        (3, "max_tokens_exceeded"),
    ]
    [priced] = checked.lines
    assert priced.prompt_tokens > 0
    # The cap is written into a line that set none, and held.
    assert (priced.max_tokens, priced.body["max_tokens"]) == (100, 100)
    unlimited = price_lines(parse_lines(line(), CHAT, 10), CHAT, routes, NO_PROJECT_RULES,
                            NO_KEY_RULES)  # fmt: skip
    assert unlimited.lines[0].max_tokens == 0 and "max_tokens" not in unlimited.lines[0].body


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_errors_or_lines_never_a_crash(content: bytes) -> None:
    checked = parse_lines(content, CHAT, 50)
    assert len(checked.lines) + len(checked.errors) >= min(1, len(request_lines(content)))


def test_responses_lines_are_translated_to_chat_and_checked_by_its_door() -> None:
    def responses_line(custom_id: str, **body: Any) -> bytes:
        request = {"custom_id": custom_id, "method": "POST", "url": RESPONSES, "body": body}
        return json.dumps(request).encode()

    content = b"\n".join(
        [
            responses_line("a", model="demo", input="Hi", instructions="Be brief."),
            responses_line("b", model="demo", input="Hi", previous_response_id="resp_1"),
            responses_line("c", model="demo", input="Hi", background=True),
            responses_line("d", model="demo", input=[]),
        ]
    )
    checked = parse_lines(content, RESPONSES, 10)
    assert [(e.line, e.param) for e in checked.errors] == [
        (2, "body.previous_response_id"),
        (3, "body.background"),
        (4, "body.input"),
    ]
    [line] = checked.lines
    assert line.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
