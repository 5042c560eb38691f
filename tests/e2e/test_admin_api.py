"""The HTTP admin API: the CLI's actions over HTTP, behind the admin token."""

from __future__ import annotations

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

    import time

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
