"""The cost console in a real browser: Debian's Chromium driven by Playwright against
the whole suite. Known calls made with the OpenAI SDK on two projects; the operator
sees both, a project's key sees its own only (in the page and in the JSON: another
project is a 404); the page shows the ledger's numbers (the admin API's bill for the
same project), updates them live after a new call without a reload, and its session
cookie is HttpOnly and SameSite=Strict. Screenshots go to tests/artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.suite import Suite, start_suite, stop_suite

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
TOKEN = "admin-token-of-the-dashboard-e2e"
SHOTS = Path(__file__).parents[1] / "artifacts" / "screenshots"
WAIT_MS = 20_000
# The sum of what a chart plots (Chart.js's own record of the canvas's data).
CHART_SUM = "id => Chart.getChart(id).data.datasets[0].data.reduce((a, b) => a + b, 0)"

# CI installs Chromium (.ci/run), so there a missing browser fails rather than skips.
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)",
)


@dataclass
class World:
    suite: Suite
    api: httpx.Client  # the admin API, with the admin token
    keys: dict[str, str]  # project -> a key's secret
    ids: dict[str, str]  # project -> id

    @property
    def home(self) -> str:
        return self.suite.base_url.removesuffix("/v1")

    def call(self, project: str, user: str = "", model: str = "demo") -> None:
        sdk = openai.OpenAI(base_url=self.suite.base_url, api_key=self.keys[project])
        extra: dict[str, Any] = {"user": user} if user else {}
        sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"hello {project}"}], **extra
        )

    def bill(self, project: str, requests: int) -> dict[str, Any]:
        """The admin API's bill once the ledger holds `requests` calls of the project."""
        deadline = time.monotonic() + 20
        while True:
            bill = dict(self.api.get(f"/admin/projects/{project}/bill").json())
            if bill["requests"] == requests or time.monotonic() > deadline:
                assert bill["requests"] == requests
                return bill
            time.sleep(0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("dashboard")
    suite = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", extra_env={"TOLLGATE_ADMIN_TOKEN": TOKEN}
    )
    base = suite.base_url.removesuffix("/v1")
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        keys, ids = {}, {}
        for name, budget in (("alpha", "5"), ("beta", "2")):
            made = api.post("/admin/projects", json={"name": name, "monthly_budget": budget})
            assert made.status_code == 201, made.text
            ids[name] = made.json()["id"]
            keys[name] = api.post(f"/admin/projects/{name}/keys", json={"name": "app"}).json()[
                "secret"
            ]
        # A soft daily budget the three calls pass (alerts at 50, 80 and 100%).
        soft = {"project": "alpha", "period": "daily", "amount": "0.004", "hard": False}
        assert api.put("/admin/budgets", json=soft).status_code == 200
        world = World(suite, api, keys, ids)
        for user in ("ann", "bob", ""):
            world.call("alpha", user)
        world.call("beta")
        world.bill("alpha", 3)
        world.bill("beta", 1)
        yield world
    finally:
        api.close()
        stop_suite(suite)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, world: World) -> Iterator[Any]:
    """A fresh browser context (no cookie) on the console; console errors and CSP
    violations fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.goto(f"{world.home}/dashboard")
    yield opened
    context.close()
    assert not [p for p in problems if "401" not in p], problems


def sign_in(page: Any, token: str) -> None:
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("signin").click()
    page.get_by_test_id("updated").wait_for(state="visible", timeout=WAIT_MS)
    assert not page.get_by_test_id("token").is_visible()  # the form is gone once signed in


def shows(page: Any, test_id: str, text: str) -> None:
    """Waits until the element shows exactly `text` (the page polls every few seconds)."""
    playwright_api.expect(page.get_by_test_id(test_id)).to_have_text(text, timeout=WAIT_MS)


def shows_bill(page: Any, bill: dict[str, Any]) -> None:
    shows(page, "spend", f"{bill['currency']} {bill['total']}")
    shows(page, "calls", f"{bill['requests']:,}")
    shows(page, "input-tokens", f"{bill['input_tokens']:,}")
    shows(page, "output-tokens", f"{bill['output_tokens']:,}")
    forecast = bill["forecast"]
    shows(page, "forecast", f"{forecast['currency']} {forecast['forecast']}")


def session_cookie(page: Any) -> dict[str, Any]:
    found = [c for c in page.context.cookies() if c["name"] == "tollgate_dashboard"]
    assert len(found) == 1
    return dict(found[0])


def test_the_operator_sees_every_project_at_the_ledgers_numbers(page: Any, world: World) -> None:
    sign_in(page, TOKEN)
    shows(page, "role", "operator")
    options = page.get_by_test_id("project-select").locator("option").all_text_contents()
    assert {"alpha", "beta"} <= set(options)
    page.get_by_test_id("project-select").select_option("alpha")
    alpha = world.bill("alpha", 3)
    shows_bill(page, alpha)
    # The month's budget gauge: spent over the limit, as a percentage.
    percent = (Decimal(alpha["total"]) * 100 / 5).quantize(Decimal("0.1"))
    gauges = page.get_by_test_id("budget-gauge")
    monthly = gauges.filter(has_text="monthly")
    playwright_api.expect(monthly.get_by_test_id("budget-percent")).to_have_text(f"{percent}%")
    daily = (Decimal(alpha["total"]) * 100 / Decimal("0.004")).quantize(Decimal("0.1"))
    playwright_api.expect(gauges.filter(has_text="daily")).to_contain_text(f"{daily}%")
    alerts = page.get_by_test_id("alerts").locator("tbody tr", has_text="threshold")
    playwright_api.expect(alerts).to_have_count(3, timeout=WAIT_MS)  # 50, 80 and 100%
    rows = page.get_by_test_id("recent-calls").locator("tbody tr")
    playwright_api.expect(rows).to_have_count(3, timeout=WAIT_MS)
    users = page.get_by_test_id("by-user").locator("tbody td:first-child").all_text_contents()
    assert {"ann", "bob"} <= set(users)
    model = page.get_by_test_id("by-model").locator("tbody tr").first
    playwright_api.expect(model).to_contain_text(f"{alpha['currency']} {alpha['total']}")

    for chart in ("hourly-chart", "daily-chart"):  # the charts plot the same spend
        plotted = page.evaluate(CHART_SUM, chart)
        assert plotted == pytest.approx(float(alpha["total"]), rel=1e-9), chart

    cookie = session_cookie(page)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/dashboard" and TOKEN not in cookie["value"]
    assert "tollgate_dashboard" not in page.evaluate("document.cookie")  # JS cannot read it
    audit = page.get_by_test_id("audit").locator("tbody tr")
    made = audit.filter(has_text="project.create").filter(has_text="alpha")
    playwright_api.expect(made).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(made).to_contain_text("admin:")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard-operator-alpha.png"), full_page=True)

    page.get_by_test_id("project-select").select_option("beta")
    shows_bill(page, world.bill("beta", 1))
    page.screenshot(path=str(SHOTS / "dashboard-operator-beta.png"), full_page=True)


def test_a_project_key_sees_its_own_project_only(page: Any, world: World) -> None:
    page.goto(f"{world.home}/dashboard#project=beta")  # asking for beta shows alpha all the same
    sign_in(page, world.keys["alpha"])
    shows(page, "role", "project viewer")
    shows(page, "project-name", "alpha")
    assert not page.get_by_test_id("project-select").is_visible()
    shows_bill(page, world.bill("alpha", 3))
    assert "beta" not in page.content()
    page.screenshot(path=str(SHOTS / "dashboard-project-alpha.png"), full_page=True)

    api = page.request  # the browser's own cookie
    listed = api.get(f"{world.home}/dashboard/api/projects").json()["data"]
    assert [p["name"] for p in listed] == ["alpha"]
    for route in ("summary", "series", "breakdown", "calls", "alerts"):
        assert api.get(f"{world.home}/dashboard/api/projects/alpha/{route}").status == 200
        for other in ("beta", world.ids["beta"]):
            assert api.get(f"{world.home}/dashboard/api/projects/{other}/{route}").status == 404
    assert api.get(f"{world.home}/dashboard/api/audit").status == 404
    cookie = session_cookie(page)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert world.keys["alpha"] not in cookie["value"]


def test_numbers_update_live_without_a_reload(page: Any, world: World) -> None:
    sign_in(page, world.keys["beta"])
    before = world.bill("beta", 1)
    shows_bill(page, before)
    page.evaluate("window.stillTheSamePage = true")
    world.call("beta", "carol")
    after = world.bill("beta", 2)
    assert Decimal(after["total"]) > Decimal(before["total"])
    shows_bill(page, after)
    rows = page.get_by_test_id("recent-calls").locator("tbody tr")
    playwright_api.expect(rows).to_have_count(2, timeout=WAIT_MS)
    assert page.evaluate("window.stillTheSamePage") is True  # never reloaded


def test_signing_out_clears_the_session(page: Any, world: World) -> None:
    sign_in(page, TOKEN)
    page.get_by_test_id("signout").click()
    page.get_by_test_id("token").wait_for(state="visible", timeout=WAIT_MS)
    assert not [c for c in page.context.cookies() if c["name"] == "tollgate_dashboard"]
    assert page.request.get(f"{world.home}/dashboard/api/session").status == 401
    page.get_by_test_id("token").fill("not-the-token")
    page.get_by_test_id("signin").click()
    shows(page, "signin-error", "That is not an admin token or a valid project key.")


def test_the_page_works_offline_with_a_strict_policy(browser: Any, world: World) -> None:
    """Every request the page makes goes to the gateway itself (no CDN), and the
    page's answer forbids framing and any script or style from elsewhere."""
    context = browser.new_context()
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url))
    opened = context.new_page()
    reply = opened.goto(f"{world.home}/dashboard")
    headers = reply.all_headers()
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    sign_in(opened, TOKEN)
    assert opened.evaluate("typeof window.Chart") == "function"  # the vendored chart library
    assert seen and all(url.startswith(world.home) for url in seen), seen
    context.close()
