"""POST /v1/completions through the whole suite (SQLite and PostgreSQL), called with the
official OpenAI SDK's `client.completions.create`: a prompt, a list of prompts, echo,
streaming with and without usage. Each prompt is one chat call and one ledger row; the
usage the answer shows is what the ledger bills, the bill is that usage at the demo
price exactly, and what a chat model cannot do is a 400 that bills nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from services.router.providers.demo.model import REPLY_PREFIX
from tests.e2e.openai_sdk_helpers import client, ledger_rows, unique, wait_rows
from tests.e2e.suite import Suite
from tollgate import tokens
from tollgate.money import from_nano

INPUT, OUTPUT = 21, 105  # the demo model's CNY price per million tokens


def cost(prompt_tokens: int, completion_tokens: int) -> Decimal:
    return (Decimal(prompt_tokens) * INPUT + Decimal(completion_tokens) * OUTPUT) / 10**6


def new_key(suite: Suite) -> tuple[str, str, openai.OpenAI]:
    name = unique("completions")
    project, secret = suite.project_with_key(name)
    return name, project, client(suite, secret)


def billed(rows: list[Any]) -> tuple[int, int]:
    return sum(r.prompt_tokens for r in rows), sum(r.completion_tokens for r in rows)


def test_a_prompt_is_one_billed_call_whose_usage_is_the_ledger_row(suite: Suite) -> None:
    name, project, sdk = new_key(suite)
    raw = sdk.completions.with_raw_response.create(
        model="demo", prompt="What is a token bucket?", max_tokens=40
    )
    reply = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert reply.id == "cmpl-" + request_id.removeprefix("req_")
    assert reply.object == "text_completion" and reply.model == "demo"
    (choice,) = reply.choices
    assert choice.index == 0 and choice.text.startswith(REPLY_PREFIX)
    assert choice.finish_reason in ("stop", "length")
    (row,) = wait_rows(suite, project, 1)
    assert row.request_id == request_id
    assert reply.usage is not None
    usage = (reply.usage.prompt_tokens, reply.usage.completion_tokens)
    assert usage == (row.prompt_tokens, row.completion_tokens)
    assert reply.usage.total_tokens == sum(usage)
    # The prompt is one user message, counted as chat counts it.
    messages = [{"role": "user", "content": "What is a token bucket?"}]
    assert row.prompt_tokens == tokens.count_chat_prompt(messages, "demo")
    assert from_nano(row.cost_nano) == cost(*usage)
    bill = json.loads(suite.cli("bill", "--project", name, "--json").stdout)
    assert Decimal(bill["total"]) == cost(*usage)


def test_max_tokens_defaults_to_sixteen(suite: Suite) -> None:
    _, _, sdk = new_key(suite)
    reply = sdk.completions.create(model="demo", prompt="x " * 100)
    assert reply.usage is not None and reply.usage.completion_tokens == 16
    assert reply.choices[0].finish_reason == "length"


def test_a_list_of_prompts_is_one_choice_each_in_order_billed_as_reported(suite: Suite) -> None:
    name, project, sdk = new_key(suite)
    prompts = ["first", "second prompt", "the third prompt of three"]
    # (The demo model answers one choice whatever `n`; the numbering of n > 1 is
    # tests/gateway/test_completions_format.py.)
    raw = sdk.completions.with_raw_response.create(model="demo", prompt=prompts, max_tokens=30)
    reply = raw.parse()
    assert [c.index for c in reply.choices] == [0, 1, 2]
    for prompt, choice in zip(prompts, reply.choices, strict=True):
        assert choice.text.startswith(REPLY_PREFIX + prompt[:10]), choice.text
    rows = wait_rows(suite, project, 3)
    request_id = raw.headers["x-request-id"]
    assert sorted(r.request_id for r in rows) == [request_id, f"{request_id}-1", f"{request_id}-2"]
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == billed(rows)
    total = from_nano(sum(r.cost_nano for r in rows))
    assert total == cost(*billed(rows))
    bill = json.loads(suite.cli("bill", "--project", name, "--json").stdout)
    assert (Decimal(bill["total"]), bill["requests"]) == (total, 3)


def test_echo_puts_the_prompt_before_the_text(suite: Suite) -> None:
    _, _, sdk = new_key(suite)
    reply = sdk.completions.create(model="demo", prompt=["A: ", "B: "], echo=True, max_tokens=8)
    assert [c.text[:3] for c in reply.choices] == ["A: ", "B: "]
    assert reply.choices[0].text[3:].startswith(REPLY_PREFIX[:10])


def test_a_stream_with_usage_ends_with_the_usage_the_ledger_bills(suite: Suite) -> None:
    _, project, sdk = new_key(suite)
    stream = sdk.completions.create(
        model="demo",
        prompt=["stream one", "stream two"],
        max_tokens=25,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts: dict[int, str] = {}
    reasons: dict[int, str] = {}
    usages = []
    ids = set()
    for chunk in stream:
        assert chunk.object == "text_completion"
        ids.add(chunk.id)
        if chunk.usage is not None:
            assert chunk.choices == []
            usages.append(chunk.usage)
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            if choice.finish_reason:
                reasons[choice.index] = choice.finish_reason
    assert len(ids) == 1
    assert sorted(texts) == [0, 1] and sorted(reasons) == [0, 1]
    assert texts[0].startswith(REPLY_PREFIX + "stream one")
    assert texts[1].startswith(REPLY_PREFIX + "stream two")
    (usage,) = usages
    rows = wait_rows(suite, project, 2)
    assert (usage.prompt_tokens, usage.completion_tokens) == billed(rows)
    assert usage.completion_tokens == sum(tokens.count_text(t, "demo") for t in texts.values())


def test_a_stream_without_usage_shows_none_and_is_still_billed(suite: Suite) -> None:
    _, project, sdk = new_key(suite)
    with sdk.completions.with_streaming_response.create(
        model="demo", prompt="quiet stream", max_tokens=10, stream=True
    ) as response:
        request_id = response.headers["x-request-id"]
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all("usage" not in c and c["choices"] for c in chunks)
    (row,) = wait_rows(suite, project, 1)
    assert row.request_id == request_id and row.completion_tokens == 10


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"suffix": "and then"}, "suffix"),
        ({"logprobs": 2}, "logprobs"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"best_of": 3}, "best_of"),
    ],
)
def test_what_a_chat_model_cannot_do_is_a_400_that_bills_nothing(
    suite: Suite, kw: dict[str, Any], param: str
) -> None:
    _, project, sdk = new_key(suite)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.completions.create(**{"model": "demo", "prompt": "x", **kw})
    assert caught.value.code == "unsupported" and caught.value.param == param
    assert caught.value.request_id
    with pytest.raises(openai.NotFoundError):
        sdk.completions.create(model="no-such-model", prompt="x")
    assert ledger_rows(suite, project) == []


HOSTILE: list[tuple[bytes, str | None]] = [
    (b'{"model":"demo","prompt":["ok","a\\ud800"]}', "prompt[1]"),
    (b'{"model":"demo","prompt":"x","user":"a\\u0000b"}', "user"),
    (b'{"model":"demo\\u0000","prompt":"x"}', "model"),
    (b'{"model":"demo","prompt":"x","max_tokens":9223372036854775808}', "max_tokens"),
    (b'{"model":"demo","prompt":"x","n":2147483648}', "n"),
    (b'{"model":"demo","prompt":"x","best_of":1e400}', "best_of"),
    (b'{"model":"demo","prompt":' + b"[" * 5000 + b"]" * 5000 + b"}", None),
    (b'{"model":"demo","prompt":"x","echo":"true"}', "echo"),
    (b"[]", None),
    (b"", None),
]


def test_hostile_bodies_are_400s_naming_the_field_and_bill_nothing(suite: Suite) -> None:
    _, project, sdk = new_key(suite)
    headers = {"Authorization": f"Bearer {sdk.api_key}", "content-type": "application/json"}
    with httpx.Client(base_url=suite.base_url, headers=headers) as http:
        for body, param in HOSTILE:
            reply = http.post("/completions", content=body)
            assert reply.status_code == 400, (body[:60], reply.text)
            assert reply.json()["error"]["param"] == param, body[:60]
        assert http.post("/completions", json={"model": "demo", "prompt": "x"}).status_code == 200
    (row,) = wait_rows(suite, project, 1)
    assert row.completion_tokens > 0
