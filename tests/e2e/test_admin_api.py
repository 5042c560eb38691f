"""The HTTP admin API: the CLI's actions over HTTP, behind the admin token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.suite import Suite, start_suite, stop_suite

TOKEN = "admin-token-for-tests"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp("admin")
    running = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", extra_env={"TOLLGATE_ADMIN_TOKEN": TOKEN}
    )
    yield running
    stop_suite(running)


@pytest.fixture
def api(suite: Suite) -> Iterator[httpx.Client]:
    base = suite.base_url.removesuffix("/v1")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def test_an_operator_runs_a_project_over_http(suite: Suite, api: httpx.Client) -> None:
    made = api.post("/admin/projects", json={"name": "web", "monthly_budget": "5"})
    assert made.status_code == 201 and made.json()["monthly_budget"] == "5.00"
    key = api.post("/admin/projects/web/keys", json={"name": "ci"}).json()
    assert key["secret"].startswith("tg-")
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=key["secret"], max_retries=0)
    reply = sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.usage is not None

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        bill = api.get("/admin/projects/web/bill").json()
        if bill["requests"] == 1:
            break
        time.sleep(0.05)
    expected = (
        Decimal(reply.usage.prompt_tokens) * 21 + Decimal(reply.usage.completion_tokens) * 105
    ) / 10**6
    assert Decimal(bill["total"]) == expected

    listed = api.get("/admin/projects/web/keys").json()["data"]
    assert [k["id"] for k in listed] == [key["id"]] and "secret" not in listed[0]
    assert api.post(f"/admin/keys/{key['id']}/revoke").json()["revoked_at"]
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]


def test_prices_and_budgets_over_http(api: httpx.Client) -> None:
    api.post("/admin/projects", json={"name": "ops"})
    assert (
        api.put("/admin/projects/ops/budget", json={"monthly_budget": "12.5"}).json()[
            "monthly_budget"
        ]
        == "12.50"
    )
    price = api.put(
        "/admin/prices/vendor/model-x", json={"input": "1.5", "output": "6", "currency": "USD"}
    ).json()
    assert (price["model"], price["input"], price["output"]) == ("vendor/model-x", "1.50", "6.00")
    models = {p["model"] for p in api.get("/admin/prices").json()["data"]}
    assert {"vendor/model-x", "demo", "gpt-4o"} <= models


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/admin/projects", {"monthly_budget": "5"}, 400),
        ("POST", "/admin/projects", {"name": "x", "monthly_budget": "lots"}, 400),
        ("POST", "/admin/projects", {"name": "x", "currency": "EUR"}, 400),
        ("PUT", "/admin/prices/m", {"input": "-1", "output": "1"}, 400),
        ("PUT", "/admin/prices/m", {"input": 1.5, "output": "1"}, 400),
        ("PUT", "/admin/prices/m", {"input": "1", "output": "1"}, 400),  # no currency, no price
        ("POST", "/admin/projects", {"name": "x", "monthly_budet": "5"}, 400),
        ("PUT", "/admin/projects/ops/budget", {}, 400),
        ("GET", "/admin/projects/nobody/bill", None, 404),
        ("POST", "/admin/keys/key_nope/revoke", None, 404),
    ],
)
def test_bad_admin_calls_get_clear_errors_and_change_nothing(
    api: httpx.Client, method: str, path: str, body: object, status: int
) -> None:
    before = api.get("/admin/projects").json()["data"]
    reply = api.request(method, path, json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["message"]
    assert api.get("/admin/projects").json()["data"] == before


def test_the_admin_api_needs_the_admin_token(suite: Suite) -> None:
    base = suite.base_url.removesuffix("/v1")
    assert httpx.get(f"{base}/admin/projects").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{base}/admin/projects", headers=wrong).status_code == 401
    _, secret = suite.project_with_key("tenant")
    tenant = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{base}/admin/projects", headers=tenant).status_code == 401


def test_budgets_set_over_http_hold_in_the_running_suite(suite: Suite, api: httpx.Client) -> None:
    _, secret = suite.project_with_key("capped")
    shown = api.put(
        "/admin/budgets", json={"project": "capped", "period": "daily", "amount": "0.000001"}
    )
    assert shown.status_code == 200, shown.text
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.RateLimitError) as refused:
        sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]
    assert refused.value.code == "budget_exceeded" and "daily" in refused.value.message
    [line] = api.get("/admin/budgets", params={"project": "capped"}).json()["data"]
    assert (line["spent"], line["reserved"]) == ("0.00", "0.00")  # a refused call costs nothing
    assert api.delete("/admin/budgets", params={"project": "capped", "period": "daily"}).is_success
    assert sdk.chat.completions.create(model="demo", messages=MESSAGES).usage  # type: ignore[arg-type]


def _every_admin_call(key_id: str) -> list[tuple[str, str]]:
    """(method, path) of every admin route, its path parameters filled in."""
    from sqlalchemy import create_engine

    from services.gateway.admin import admin_routes

    filled = {"{name}": "victim", "{key_id}": key_id, "{model:path}": "demo"}
    calls: list[tuple[str, str]] = []
    for route in admin_routes(create_engine("sqlite://"), TOKEN):
        path = route.path
        for param, value in filled.items():
            path = path.replace(param, value)
        assert "{" not in path, route.path
        calls.extend((method, path) for method in sorted(route.methods or ()) if method != "HEAD")
    return calls


def test_a_project_key_reaches_no_admin_route(suite: Suite, api: httpx.Client) -> None:
    """Invariant 4: a tenant's own key opens no /admin/ route, read or write."""
    _, secret = suite.project_with_key("victim")
    [victim_key] = api.get("/admin/projects/victim/keys").json()["data"]
    _, attacker = suite.project_with_key("attacker")
    before = {
        path: api.get(path).json()
        for path in ("/admin/projects", "/admin/projects/victim/keys", "/admin/prices")
    }
    calls = _every_admin_call(victim_key["id"])
    assert len(calls) >= 20 and ("POST", f"/admin/keys/{victim_key['id']}/revoke") in calls
    body = {"project": "victim", "period": "daily", "amount": "0", "price_multiplier": "0"}
    base = suite.base_url.removesuffix("/v1")
    for method, path in calls:
        for headers in (
            {"Authorization": f"Bearer {attacker}"},
            {"Authorization": f"Bearer {attacker}", "x-api-key": TOKEN},
        ):
            reply = httpx.request(
                method, f"{base}{path}", headers=headers, json=body if method != "GET" else None
            )
            assert reply.status_code == 401, (method, path, reply.text)
            assert reply.json()["error"]["code"] == "invalid_api_key"
    assert {path: api.get(path).json() for path in before} == before
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    assert sdk.chat.completions.create(model="demo", messages=MESSAGES).usage  # type: ignore[arg-type]


def test_usage_shows_only_the_callers_project_whatever_it_asks(
    suite: Suite, api: httpx.Client
) -> None:
    """Invariant 4 on GET /v1/usage: naming another project, by name, by id or by a
    header the OpenAI SDKs send, still shows only the caller's own project."""
    alpha_id, alpha = suite.project_with_key("alpha")
    _, beta = suite.project_with_key("beta")
    [alpha_key] = api.get("/admin/projects/alpha/keys").json()["data"]
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=alpha, max_retries=0)
    sdk.chat.completions.create(model="demo", messages=MESSAGES, user="alice")  # type: ignore[arg-type]

    def usage(secret: str, params: dict[str, str], headers: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
        reply = httpx.get(
            f"{suite.base_url}/usage",
            params=params,
            headers={"Authorization": f"Bearer {secret}", **(headers or {})},
        )
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    everything = {"by": "project,key,model,user,day"}
    deadline = time.monotonic() + 15
    while not usage(alpha, everything)["lines"] and time.monotonic() < deadline:
        time.sleep(0.05)
    # The control: alpha's own key sees its call, so the queries below could show it.
    [own] = usage(alpha, everything)["lines"]
    assert own["requests"] == 1 and own["end_user"] == "alice"

    today = time.strftime("%Y-%m-%d", time.gmtime())
    for params in [
        everything,
        {**everything, "project": "alpha"},
        {**everything, "project": alpha_id},
        {**everything, "project_id": alpha_id, "key": alpha_key["id"]},
        {"from": today, "to": today, "by": "key", "project": "alpha"},
        {"by": "project", "project": alpha_id},
        {"from": "2000-01-01", "project": "alpha"},
    ]:
        for headers in (None, {"OpenAI-Project": alpha_id, "OpenAI-Organization": "alpha"}):
            shown = usage(beta, params, headers)
            assert shown["project"] == "beta" and shown["lines"] == [], params
            assert all(t["requests"] == 0 for t in shown["totals"]), params
            text = str(shown)
            assert alpha_id not in text and alpha_key["id"] not in text, params
    monthly = usage(beta, {"project": alpha_id}, {"OpenAI-Project": alpha_id})
    assert (monthly["project"], monthly["requests"], monthly["by_model"]) == ("beta", 0, [])
