"""The whole suite, called with the official OpenAI SDK: what calls cost, the bill
that equals the ledger, and budgets that refuse with 429 and never overspend."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
import openai
import pytest

from services.budget.admin import operations as admin
from tests.e2e.openai_sdk_helpers import MESSAGES, client, ledger_rows, unique, wait_rows
from tests.e2e.suite import Suite
from tollgate import tokens
from tollgate.money import from_nano


def test_budget_exhaustion_refuses_with_429_and_never_overspends(suite: Suite) -> None:
    # Each call: prompt of the demo counting + max_tokens=5 at CNY 21 / 105 per million.
    prompt = tokens.count_chat_prompt(MESSAGES, "demo")
    per_call = Decimal(prompt) * 21 / 10**6 + Decimal(5) * 105 / 10**6
    budget = per_call * 3 + per_call / 2  # fits three calls, not four
    name = unique("budget")
    project, secret = suite.project_with_key(name, budget=str(budget.quantize(Decimal("1e-9"))))
    sdk = client(suite, secret)
    for _ in range(3):
        reply = sdk.chat.completions.create(model="demo", messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
        assert reply.choices[0].finish_reason == "length"
        assert reply.usage.completion_tokens == 5
    wait_rows(suite, project, 3)
    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="demo", messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
    body = info.value.body
    assert body["code"] == "budget_exceeded"  # type: ignore[index]
    assert name in body["message"] and "resets at" in body["message"]  # type: ignore[index]
    rows = ledger_rows(suite, project)
    assert len(rows) == 3
    assert from_nano(sum(r.cost_nano for r in rows)) == per_call * 3 <= budget


def test_the_bill_equals_the_ledger_exactly(suite: Suite) -> None:
    name = unique("bill")
    project, secret = suite.project_with_key(name)
    sdk = client(suite, secret)
    usages = []
    for i in range(4):
        reply = sdk.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "x" * (i * 37 + 1)}]
        )
        usages.append(reply.usage)
    wait_rows(suite, project, 4)
    bill = json.loads(suite.cli("bill", "--project", name, "--json").stdout)
    prompt = sum(u.prompt_tokens for u in usages)
    completion = sum(u.completion_tokens for u in usages)
    expected = (Decimal(prompt) * 21 + Decimal(completion) * 105) / 10**6
    assert Decimal(bill["total"]) == expected
    assert Decimal(bill["total"]) == from_nano(
        sum(r.cost_nano for r in ledger_rows(suite, project))
    )
    assert (bill["requests"], bill["input_tokens"], bill["output_tokens"]) == (
        4,
        prompt,
        completion,
    )
    assert bill["currency"] == "CNY" and bill["project"] == name
    (line,) = bill["by_model"]
    assert line["model"] == "demo" and line["total"] == bill["total"]

    usage = httpx.get(
        f"{suite.base_url}/usage", headers={"Authorization": f"Bearer {secret}"}
    ).json()
    assert usage["total"] == bill["total"] and usage["requests"] == 4
    assert usage["budget"]["limit"] is None and usage["budget"]["spent"] == bill["total"]


def test_200_concurrent_calls_hold_the_budget_exactly(suite: Suite) -> None:
    """Reservation equals the actual cost here (exact prompt count, reply cut at
    max_tokens), so exactly floor(budget / cost) calls may be served: none more (the
    budget holds) and none fewer (no call that fit was refused)."""
    prompt = tokens.count_chat_prompt(MESSAGES, "demo")
    per_call = Decimal(prompt) * 21 / 10**6 + Decimal(3) * 105 / 10**6
    fits = 37
    budget = (per_call * fits + per_call / 3).quantize(Decimal("1e-9"))
    project, secret = suite.project_with_key(unique("load"), budget=str(budget))

    async def main() -> list[int]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            sdk = openai.AsyncOpenAI(
                base_url=suite.base_url, api_key=secret, max_retries=0, http_client=http
            )

            async def one() -> int:
                try:
                    await sdk.chat.completions.create(
                        model="demo",
                        messages=MESSAGES,
                        max_tokens=3,  # type: ignore[arg-type]
                    )
                    return 200
                except openai.APIStatusError as exc:
                    return exc.status_code

            return await asyncio.gather(*(one() for _ in range(200)))

    statuses = asyncio.run(main())
    assert statuses.count(200) == fits
    assert statuses.count(429) == 200 - fits
    rows = wait_rows(suite, project, fits)
    assert len(rows) == fits
    spent = from_nano(sum(r.cost_nano for r in rows))
    assert spent == per_call * fits <= budget


def test_a_key_budget_refuses_with_its_name_and_usage_lists_every_budget(suite: Suite) -> None:
    name = unique("keybudget")
    project, secret = suite.project_with_key(name, budget="100")
    (key,) = admin.list_keys(suite.engine, name)
    suite.cli("budget", "set", "--project", name, "--key", key.id, "--period", "daily",
              "--amount", "0.000001")  # fmt: skip
    with pytest.raises(openai.RateLimitError) as info:
        client(suite, secret).chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    body = info.value.body
    assert body["code"] == "budget_exceeded"  # type: ignore[index]
    assert key.id in body["message"] and "daily budget" in body["message"]  # type: ignore[index]
    assert "resets at" in body["message"] and " UTC" in body["message"]  # type: ignore[index]
    usage = httpx.get(
        f"{suite.base_url}/usage", headers={"Authorization": f"Bearer {secret}"}
    ).json()["budget"]
    assert usage["limit"] == "100.00" and usage["timezone"] == "UTC"
    shown = {(b["owner"], b["period"]): b for b in usage["budgets"]}
    monthly = shown[("project", "monthly")]
    assert monthly["hard"] and monthly["spent"] == "0.00"
    assert shown[("key", "daily")]["key_id"] == key.id
    assert shown[("key", "daily")]["limit"] == "0.000001"
    assert shown[("key", "daily")]["resets_at"].endswith("+00:00")
