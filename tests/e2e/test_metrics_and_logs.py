"""After a known sequence of calls, every service's /metrics says what happened, and
the JSON logs hold one access line per call, request ids, and no secret.

The sequence: three chat calls of one project (two whole, one streamed), one call with
a wrong key (401), one call of a project whose budget cannot hold it (429), one call
to a model whose upstream is down (502), one call naming a model shaped like a secret
(404). Each service is scraped on its own metrics listener, before and after; the
tests check the deltas against the ledger."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests.e2e.suite import SERVICES, Suite, free_port, start_suite, stop_suite
from tollgate.db.models import LEDGER
from tollgate.money import format_amount

CHAT = "/v1/chat/completions"
ADMIN_TOKEN = "admin-token-for-the-metrics-test-0123456789"
UPSTREAM_KEY = "sk-upstream-key-of-the-down-provider-0123456789"
SECRET_MODEL = "sk-this-model-name-is-shaped-like-a-key-42"
BAD_KEY = "tg-" + "x" * 43


def config(down_port: int) -> str:
    return (
        "providers:\n"
        "  - {name: demo, kind: demo, models: [demo]}\n"
        f"  - {{name: down, kind: openai, base_url: 'http://127.0.0.1:{down_port}/v1',"
        " api_key_env: DOWN_UPSTREAM_KEY, models: [down-model]}\n"
        "prices:\n"
        "  - {model: down-model, input: 1, output: 2, currency: USD}\n"
        "routing:\n"
        "  retry: {max_attempts: 1}\n"
    )


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(address: str) -> Samples:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


class Run:
    def __init__(self, suite: Suite, metrics: dict[str, str]) -> None:
        self.suite = suite
        self.metrics = metrics
        self.before: dict[str, Samples] = {}
        self.after: dict[str, Samples] = {}
        self.request_ids: dict[str, str] = {}
        self.project = ""
        self.secrets: list[str] = []

    def delta(self, service: str, name: str, **labels: str) -> float:
        return value(self.after[service], name, **labels) - value(
            self.before[service], name, **labels
        )

    def scrape_all(self) -> dict[str, Samples]:
        return {name: scrape(address) for name, address in self.metrics.items()}


def _calls(run: Run) -> None:
    suite = run.suite
    project, secret = suite.project_with_key("metered", budget="100")
    _, poor_secret = suite.project_with_key("poor", budget="0.000000001")
    run.project = project
    run.secrets += [secret, poor_secret, BAD_KEY]
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    hello = [{"role": "user", "content": "hello there"}]
    for n in range(2):
        raw = sdk.chat.completions.with_raw_response.create(model="demo", messages=hello)
        run.request_ids[f"whole{n}"] = raw.headers["x-request-id"]
    with sdk.chat.completions.with_streaming_response.create(
        model="demo", messages=hello, stream=True
    ) as streamed:
        run.request_ids["stream"] = streamed.headers["x-request-id"]
        list(streamed.iter_lines())
    refused = {
        "bad_key": (openai.OpenAI(base_url=suite.base_url, api_key=BAD_KEY, max_retries=0), "demo"),
        "poor": (
            openai.OpenAI(base_url=suite.base_url, api_key=poor_secret, max_retries=0),
            "demo",
        ),
        "down": (sdk, "down-model"),
        "secret_model": (sdk, SECRET_MODEL),
    }
    for label, (client, model) in refused.items():
        with pytest.raises(openai.APIStatusError) as failed:
            client.chat.completions.create(model=model, messages=hello)
        run.request_ids[label] = failed.value.response.headers["x-request-id"]
    # An admin call, so the admin token is presented at least once.
    admin = urllib.request.Request(
        f"http://127.0.0.1:{suite.http_port}/admin/projects",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    with urllib.request.urlopen(admin, timeout=10) as reply:
        assert reply.status == 200


def _settled(run: Run, deadline: float) -> None:
    """Wait until Metering has the four ledger rows (delivery is in the background)."""
    while time.monotonic() < deadline:
        metering = scrape(run.metrics["metering"])
        rows = total(metering, "tollgate_metered_calls_total", project=run.project)
        spool = value(scrape(run.metrics["router"]), "tollgate_router_spool_records")
        if rows >= 4 and spool == 0:
            return
        time.sleep(0.2)
    raise AssertionError("metering did not record the calls in time")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    home: Path = tmp_path_factory.mktemp("metrics")
    metrics = {name: f"127.0.0.1:{free_port()}" for name in SERVICES}
    env = {f"TOLLGATE_{name.upper()}_METRICS_LISTEN": address for name, address in metrics.items()}
    env |= {
        "TOLLGATE_LOG_FORMAT": "json",
        "TOLLGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "DOWN_UPSTREAM_KEY": UPSTREAM_KEY,
    }
    suite = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", config=config(free_port()), extra_env=env
    )
    result = Run(suite, metrics)
    try:
        result.before = result.scrape_all()
        _calls(result)
        _settled(result, time.monotonic() + 30)
        result.after = result.scrape_all()
        result.secrets += [ADMIN_TOKEN, UPSTREAM_KEY, (home / "internal_token").read_text().strip()]
    finally:
        stop_suite(suite)
    yield result


def test_the_gateway_counts_routes_statuses_and_models(run: Run) -> None:
    requests = "tollgate_http_requests_total"
    post = {"route": CHAT, "method": "POST"}
    assert run.delta("gateway", requests, **post, status="200", model="demo") == 3
    assert run.delta("gateway", requests, **post, status="401", model="") == 1
    assert run.delta("gateway", requests, **post, status="429", model="") == 1
    assert run.delta("gateway", requests, **post, status="502", model="") == 1
    assert run.delta("gateway", requests, **post, status="404", model="") == 1
    projects = {"route": "/admin/projects", "method": "GET", "status": "200", "model": ""}
    assert run.delta("gateway", requests, **projects) == 1
    assert run.delta("gateway", "tollgate_http_request_duration_seconds_count", route=CHAT) == 7
    # Time to first byte and the latency tollgate added: the three calls that were served.
    first = "tollgate_http_time_to_first_byte_seconds_count"
    assert run.delta("gateway", first, route=CHAT, model="demo") == 3
    assert run.delta("gateway", "tollgate_added_latency_seconds_count", route=CHAT) == 3
    assert value(run.after["gateway"], "tollgate_http_requests_in_flight") == 0


def test_budget_counts_decisions_and_reports_what_is_left(run: Run) -> None:
    decisions = "tollgate_budget_authorizations_total"
    assert run.delta("budget", decisions, decision="allowed") == 4  # 3 demo, 1 down-model
    assert run.delta("budget", decisions, decision="budget_exceeded") == 1
    spent, currency = _ledger_cost(run), _currency(run)
    budget = {"project": run.project, "period": "monthly", "owner": "project", "currency": currency}
    left = value(run.after["budget"], "tollgate_budget_remaining", **budget)
    assert spent > 0
    assert left == pytest.approx(float(Decimal(100) - spent), abs=1e-9)
    assert value(run.after["budget"], "tollgate_budget_limit", **budget) == 100
    assert value(run.after["budget"], "tollgate_reservations_held", project=run.project) == 0


def test_the_router_counts_calls_upstream_requests_and_errors(run: Run) -> None:
    calls = "tollgate_router_calls_total"
    demo = {"provider": "demo", "model": "demo"}
    assert run.delta("router", calls, **demo, status="ok", cache_hit="false") == 3
    down = {"provider": "down", "model": "down-model"}
    assert run.delta("router", calls, **down, status="failed", cache_hit="false") == 1
    requests = "tollgate_upstream_requests_total"
    assert run.delta("router", requests, **demo, outcome="ok") == 3
    assert run.delta("router", requests, **down, outcome="error") == 1
    assert run.delta("router", "tollgate_upstream_errors_total", **down, status="502") == 1
    assert run.delta("router", "tollgate_upstream_request_duration_seconds_count", **demo) == 3
    assert run.delta("router", "tollgate_upstream_time_to_first_token_seconds_count", **demo) == 1
    assert value(run.after["router"], "tollgate_router_spool_records") == 0
    assert value(run.after["router"], "tollgate_router_open_calls") == 0


def _currency(run: Run) -> str:
    with run.suite.engine.connect() as conn:
        currencies = conn.execute(
            select(LEDGER.c.currency).where(LEDGER.c.project_id == run.project).distinct()
        ).all()
    (currency,) = currencies
    return str(currency[0])


def _ledger_cost(run: Run) -> Decimal:
    with run.suite.engine.connect() as conn:
        rows = conn.execute(
            select(LEDGER.c.cost_nano).where(LEDGER.c.project_id == run.project)
        ).all()
    return sum((Decimal(r.cost_nano) / 10**9 for r in rows), Decimal(0))


def test_metering_counts_tokens_and_cost_as_the_ledger_has_them(run: Run) -> None:
    with run.suite.engine.connect() as conn:
        rows = conn.execute(select(LEDGER).where(LEDGER.c.project_id == run.project)).all()
    ok = [r for r in rows if r.model_served == "demo"]
    assert len(ok) == 3
    labels = {"project": run.project, "model": "demo"}
    assert run.delta("metering", "tollgate_metered_calls_total", **labels, status="ok") == 3
    down = {"project": run.project, "model": "down-model", "status": "failed"}
    assert run.delta("metering", "tollgate_metered_calls_total", **down) == 1
    tokens = "tollgate_tokens_total"
    prompt = sum(r.prompt_tokens for r in ok)
    completion = sum(r.completion_tokens for r in ok)
    assert prompt > 0 and completion > 0
    assert run.delta("metering", tokens, **labels, kind="prompt") == prompt
    assert run.delta("metering", tokens, **labels, kind="completion") == completion
    cost = run.delta("metering", "tollgate_cost_total", **labels, currency=_currency(run))
    assert cost == pytest.approx(float(_ledger_cost(run)), rel=1e-9)


def _lines(run: Run, service: str) -> list[dict[str, Any]]:
    lines = [line for line in run.suite.log(service, tail=None).splitlines() if line.strip()]
    assert lines, f"{service} logged nothing"
    parsed = []
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "service", "logger", "message"} <= set(entry), line
        assert entry["service"] == service
        parsed.append(entry)
    return parsed


def test_every_line_is_json_and_each_call_has_one_access_line(run: Run) -> None:
    for service in SERVICES:
        _lines(run, service)
    access = [e for e in _lines(run, "gateway") if e["logger"] == "tollgate.access"]
    by_id = {e["request_id"]: e for e in access if e["route"] == CHAT}
    assert len([e for e in access if e["route"] == CHAT]) == 7 == len(by_id)
    assert set(by_id) == set(run.request_ids.values())
    whole = by_id[run.request_ids["whole0"]]
    assert whole["status"] == 200 and whole["project"] == run.project
    assert whole["model"] == whole["model_served"] == "demo" and whole["provider"] == "demo"
    assert whole["prompt_tokens"] > 0 and whole["completion_tokens"] > 0
    assert whole["latency_ms"] >= 0 and whole["added_ms"] >= 0 and whole["key_id"]
    assert by_id[run.request_ids["bad_key"]]["status"] == 401
    assert "project" not in by_id[run.request_ids["bad_key"]]
    assert by_id[run.request_ids["poor"]]["status"] == 429
    assert by_id[run.request_ids["down"]]["status"] == 502
    assert by_id[run.request_ids["secret_model"]]["model"] == "[redacted]"


def test_metering_logs_each_call_s_cost_under_its_request_id(run: Run) -> None:
    ledger = {
        e["request_id"]: e for e in _lines(run, "metering") if e["logger"] == "tollgate.ledger"
    }
    with run.suite.engine.connect() as conn:
        rows = conn.execute(select(LEDGER).where(LEDGER.c.project_id == run.project)).all()
    assert len(rows) == 4
    for row in rows:
        line = ledger[row.request_id]  # the id the gateway answered with, in another service
        assert line["cost"] == format_amount(row.cost_nano) and line["currency"] == row.currency
        assert (line["prompt_tokens"], line["project"]) == (row.prompt_tokens, run.project)
    assert ledger[run.request_ids["down"]]["status"] == "failed"


def test_no_secret_reaches_any_log(run: Run) -> None:
    assert len(run.secrets) == 6 and all(run.secrets)
    for service in SERVICES:
        text = run.suite.log(service, tail=None)
        for secret in run.secrets:
            assert secret not in text, f"{service}'s log holds a secret"
        assert SECRET_MODEL not in text
