"""The services hosted several to a process, as `tollgate up` runs them (all four in
`tollgate serve all`, or gateway and router in `serve front` and budget and metering in
`serve back`), called with the official OpenAI SDK: a chat, a stream, a budget that
refuses and never overspends, a bill equal to the ledger, and each service still
answering its own gRPC contract on its own address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import openai
import pytest

from tests.e2e.openai_sdk_helpers import MESSAGES, client, ledger_rows, unique, wait_rows
from tests.e2e.suite import ALL, SERVICES, Suite, start_suite, stop_suite
from tollgate import tokens
from tollgate.grpcutil import check_health
from tollgate.money import from_nano


@pytest.fixture(scope="module", params=[(ALL,), ("back", "front")], ids=["one", "two"])
def one(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    """The four services in one process, or in two (gateway and router, budget and
    metering), as `tollgate up` runs them."""
    home = tmp_path_factory.mktemp("hosted")
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}", hosts=request.param)
    yield running
    stop_suite(running)


def test_each_service_serves_its_contract_on_its_own_address(one: Suite) -> None:
    assert len(one.processes) in (1, 2)
    for service in SERVICES[:-1]:  # the gateway's is HTTP, checked by start_suite
        assert check_health(one.env[f"TOLLGATE_{service.upper()}_ADDR"], 2), service


def test_the_gateway_calls_the_router_in_process(one: Suite) -> None:
    logs = "".join(one.log(host) for host in one.processes)
    assert "router answers callers on its event loop in process" in logs


def test_a_chat_and_a_stream_are_billed_exactly(one: Suite) -> None:
    name = unique("one")
    project, secret = one.project_with_key(name)
    sdk = client(one, secret)
    reply = sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    chunks = list(
        sdk.chat.completions.create(  # type: ignore[call-overload]
            model="demo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed and chunks[-1].usage is not None
    usages = [reply.usage, chunks[-1].usage]
    rows = wait_rows(one, project, 2)
    assert len(rows) == 2
    bill = json.loads(one.cli("bill", "--project", name, "--json").stdout)
    prompt = sum(u.prompt_tokens for u in usages if u)
    completion = sum(u.completion_tokens for u in usages if u)
    assert (bill["requests"], bill["input_tokens"], bill["output_tokens"]) == (
        2,
        prompt,
        completion,
    )
    expected = (Decimal(prompt) * 21 + Decimal(completion) * 105) / 10**6
    assert Decimal(bill["total"]) == expected == from_nano(sum(r.cost_nano for r in rows))


def test_a_hard_budget_refuses_and_is_never_overspent(one: Suite) -> None:
    prompt = tokens.count_chat_prompt(MESSAGES, "demo")
    per_call = Decimal(prompt) * 21 / 10**6 + Decimal(5) * 105 / 10**6
    budget = per_call * 2 + per_call / 2  # fits two calls, not three
    name = unique("one-budget")
    project, secret = one.project_with_key(name, budget=str(budget.quantize(Decimal("1e-9"))))
    sdk = client(one, secret)
    for _ in range(2):
        sdk.chat.completions.create(model="demo", messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
    wait_rows(one, project, 2)
    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="demo", messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
    assert info.value.body["code"] == "budget_exceeded"  # type: ignore[index]
    rows = ledger_rows(one, project)
    assert len(rows) == 2
    assert from_nano(sum(r.cost_nano for r in rows)) == per_call * 2 <= budget


def test_sigterm_stops_them_in_order_and_delivers_the_spool(one: Suite) -> None:
    name = unique("one-stop")
    project, secret = one.project_with_key(name)
    sdk = client(one, secret)
    for _ in range(5):
        sdk.chat.completions.create(model="demo", messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
    hosts = list(one.processes)
    for host in reversed(hosts):  # SIGTERM: gateway, router (its spool), metering, budget
        assert one.stop(host) == 0
    assert len(ledger_rows(one, project)) == 5  # delivered before they exited
    log = "".join(one.log(host) for host in reversed(hosts))
    assert log.index("router stopping") < log.index("metering stopping")
    assert log.index("metering stopping") < log.index("budget stopping")
    for host in hosts:  # for the module's other tests, whatever order they run in
        one.start(host)
    one.wait_healthy(tuple(hosts))
