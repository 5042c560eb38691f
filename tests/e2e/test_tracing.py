"""One call is one trace across the gateway, budget and router (printed by the console
exporter; tests/e2e/test_traces_otlp.py follows it over OTLP into metering too)."""

from __future__ import annotations

import json
from pathlib import Path

import openai

from tests.e2e.suite import Suite, start_suite, stop_suite


def spans(log: str) -> list[dict]:  # type: ignore[type-arg]
    """The spans the console exporter printed into a service's log."""
    decoder = json.JSONDecoder()
    found, at = [], log.find('{\n    "name"')
    while at != -1:
        span, end = decoder.raw_decode(log, at)
        found.append(span)
        at = log.find('{\n    "name"', end)
    return found


def test_a_call_is_one_trace_across_the_services(tmp_path: Path) -> None:
    suite: Suite = start_suite(
        tmp_path,
        f"sqlite:///{tmp_path / 'tollgate.db'}",
        extra_env={"TOLLGATE_OTEL_EXPORTER": "console"},
    )
    try:
        _, secret = suite.project_with_key("traced")
        sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
        raw = sdk.chat.completions.with_raw_response.create(
            model="demo", messages=[{"role": "user", "content": "hi"}]
        )
        request_id = raw.headers["x-request-id"]
        list(
            sdk.chat.completions.create(
                model="demo", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
    finally:
        stop_suite(suite)
    gateway = [
        s
        for s in spans(suite.log("gateway", tail=None))
        if s["name"] == "POST /v1/chat/completions"
    ]
    assert len(gateway) == 2
    (mine,) = [s for s in gateway if s["attributes"]["tollgate.request_id"] == request_id]
    trace_id = mine["context"]["trace_id"]
    assert mine["attributes"]["http.response.status_code"] == 200
    budget = {
        s["name"]: s
        for s in spans(suite.log("budget", tail=None))
        if s["context"]["trace_id"] == trace_id
    }
    router = {
        s["name"]: s
        for s in spans(suite.log("router", tail=None))
        if s["context"]["trace_id"] == trace_id
    }
    # The call's settlement joins the trace too (docs/observability.md has the whole tree).
    assert set(budget) == {"budget.authorize", "budget.settle"}
    assert set(router) == {"router.chat", "upstream.chat"}
    authorize, chat = budget["budget.authorize"], router["router.chat"]
    assert authorize["parent_id"] == mine["context"]["span_id"] == chat["parent_id"]
    assert chat["attributes"]["tollgate.provider"] == "demo"
    assert router["upstream.chat"]["parent_id"] == chat["context"]["span_id"]
    streamed = next(s for s in gateway if s is not mine)
    assert streamed["attributes"]["tollgate.stream"] is True and streamed["end_time"]
