"""POST /v1/embeddings through the whole suite, called with the official OpenAI SDK:
the vectors are right, each call leaves one ledger row whose cost is the reported
input tokens times the input price, exactly; bad input and models that cannot
embed get an OpenAI-format 400 and cost nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from services.router.providers.demo import vectors
from tests.conftest import postgres_schema
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate import embeddings
from tollgate.db.models import LEDGER
from tollgate.money import from_nano
from tollgate_mocks.gemini_upstream import MockGemini
from tollgate_mocks.openai_upstream import MockUpstream

KEY = "provider-key-for-embeddings"
USD_TO_CNY = Decimal("7.2")  # projects are in CNY
TEXTS = ["The food was delicious.", "The waiter was friendly.", "Tokens cost money."]
# (model, provider, input price per million, currency rate, usage source) from the
# default catalogue; gemini's mock reports no usage, as many API versions do not.
MODELS = [
    ("text-embedding-3-small", "openai", Decimal("0.02"), USD_TO_CNY, "provider"),
    ("gemini-embedding-001", "gemini", Decimal("0.15"), USD_TO_CNY, "estimated"),
    ("demo-embedding", "demo", Decimal(1), Decimal(1), "provider"),
]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def suite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    upstream = MockUpstream(api_key=KEY).start()
    gemini = MockGemini(api_key=KEY).start()
    config = (
        "providers:\n"
        f"  - {{name: openai, kind: openai, base_url: '{upstream.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [text-embedding-3-small]}\n"
        f"  - {{name: gemini, kind: gemini, base_url: '{gemini.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [gemini-embedding-001]}\n"
        "  - {name: anthropic, kind: anthropic, base_url: 'http://127.0.0.1:9',"
        " models: [claude-haiku-4-5]}\n"
        "  - {name: demo, kind: demo, models: [demo-embedding]}\n"
    )
    home: Path = tmp_path_factory.mktemp(f"embeddings-{request.param}")
    env = {"PROVIDER_KEY": KEY}
    try:
        if request.param == "sqlite":
            running = start_suite(home, f"sqlite:///{home / 'db'}", config=config, extra_env=env)
            yield running
            stop_suite(running)
        else:
            with postgres_schema() as url:
                running = start_suite(home, url, config=config, extra_env=env)
                yield running
                stop_suite(running)
    finally:
        upstream.stop()
        gemini.stop()


def sdk(suite: Suite, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)


def rows_for(suite: Suite, project: str, count: int) -> list[Any]:
    deadline = time.monotonic() + 15
    while True:
        with suite.engine.connect() as conn:
            rows = list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project)))
        if len(rows) >= count or time.monotonic() > deadline:
            return sorted(rows, key=lambda r: (r.started_at, r.id))  # in call order
        time.sleep(0.05)


def budget_status(suite: Suite, secret: str) -> dict[str, Any]:
    reply = httpx.get(
        f"{suite.base_url}/usage", headers={"authorization": f"Bearer {secret}"}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    budget: dict[str, Any] = reply.json()["budget"]
    return budget


@pytest.mark.parametrize(("model", "provider", "price", "rate", "source"), MODELS)
def test_vectors_and_exact_bills(
    suite: Suite, model: str, provider: str, price: Decimal, rate: Decimal, source: str
) -> None:
    project, secret = suite.project_with_key(f"embed-{provider}", budget="100")
    client = sdk(suite, secret)
    single = client.embeddings.create(model=model, input=TEXTS[0], encoding_format="float")
    assert [d.embedding for d in single.data] == [vectors.vector(TEXTS[0])]
    # The SDK's default asks for base64 and decodes it to floats.
    batch = client.embeddings.create(model=model, input=TEXTS, dimensions=8)
    assert [d.embedding for d in batch.data] == [vectors.vector(t, 8) for t in TEXTS]
    raw = client.embeddings.create(model=model, input=TEXTS[1:], encoding_format="base64")
    encoded: list[Any] = [d.embedding for d in raw.data]
    assert [embeddings.decode_base64(e) for e in encoded] == [vectors.vector(t) for t in TEXTS[1:]]

    answers = [single, batch, raw]
    rows = rows_for(suite, project, len(answers))
    # Usage is delivered asynchronously, so rows may land in any order.
    assert sorted(r.prompt_tokens for r in rows) == sorted(a.usage.prompt_tokens for a in answers)
    assert all(a.usage.prompt_tokens == a.usage.total_tokens > 0 for a in answers)
    for row in rows:
        assert (row.provider, row.status, row.usage_source) == (provider, "ok", source)
        assert row.completion_tokens == 0
        cost = (row.prompt_tokens * price * rate / 10**6).quantize(
            Decimal("1e-9"), rounding=ROUND_HALF_UP
        )
        assert from_nano(row.cost_nano) == cost > 0
    status = budget_status(suite, secret)
    assert Decimal(status["reserved"]) == 0
    assert Decimal(status["spent"]) == sum(from_nano(r.cost_nano) for r in rows)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "demo-embedding", "input": ""}, "input"),
        ({"model": "demo-embedding", "input": []}, "input"),
        ({"model": "demo-embedding"}, "input"),
        ({"model": "demo-embedding", "input": ["a", 1]}, "input"),
        ({"model": "demo-embedding", "input": {"text": "a"}}, "input"),
        ({"model": "demo-embedding", "input": ["x"] * 2049}, "input"),
        ({"model": "demo-embedding", "input": "hi", "dimensions": -1}, "dimensions"),
        ({"model": "demo-embedding", "input": "hi", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "demo-embedding", "input": "hi", "user": 5}, "user"),
    ],
)
def test_bad_input_is_a_400_and_bills_nothing(
    suite: Suite, body: dict[str, Any], param: str
) -> None:
    project, secret = suite.project_with_key(f"bad-{uuid.uuid4().hex[:8]}", budget="1")
    reply = httpx.post(
        f"{suite.base_url}/embeddings",
        json=body,
        headers={"authorization": f"Bearer {secret}"},
        timeout=10,
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert error["message"]
    assert rows_for(suite, project, 0) == []
    assert Decimal(budget_status(suite, secret)["reserved"]) == 0


def test_a_model_served_by_anthropic_is_a_400_that_costs_nothing(suite: Suite) -> None:
    project, secret = suite.project_with_key("embed-anthropic", budget="1")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(suite, secret).embeddings.create(model="claude-haiku-4-5", input="hi")
    assert "Anthropic" in caught.value.message
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    (row,) = rows_for(suite, project, 1)
    assert (row.status, row.cost_nano, row.prompt_tokens) == ("failed", 0, 0)
    assert Decimal(budget_status(suite, secret)["reserved"]) == 0


def test_the_hold_is_the_input_cost_only(suite: Suite) -> None:
    # demo-embedding costs 1 CNY per million tokens: a budget of exactly one call's
    # input cost lets that call through (nothing held for output), not a second.
    tokens = embeddings.count_tokens([TEXTS[0]], "demo-embedding")
    project, secret = suite.project_with_key(
        "embed-hold", budget=format(Decimal(tokens) / 10**6, "f")
    )
    client = sdk(suite, secret)
    client.embeddings.create(model="demo-embedding", input=TEXTS[0])
    (row,) = rows_for(suite, project, 1)
    assert row.prompt_tokens == tokens
    with pytest.raises(openai.RateLimitError) as caught:
        client.embeddings.create(model="demo-embedding", input=TEXTS[0])
    assert caught.value.code == "budget_exceeded"
