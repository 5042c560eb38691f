"""The mock upstream counts what it served (`GET /_served`): per call, the `user` tag,
the prompt tokens and the completion tokens it sent, so the crash drills can hold
tollgate's ledger to what a provider would bill."""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.router.providers.demo import model as demo
from tollgate.tokens import count_chat_prompt, count_text
from tollgate_mocks.openai_upstream import MockUpstream

MESSAGES: list[Any] = [{"role": "user", "content": "count every token I send you"}]
PROMPT = count_chat_prompt(MESSAGES, "demo")
REPLY = demo.REPLY_PREFIX + MESSAGES[0]["content"]
STREAM_DELAY_MS = 20


def served(mock: MockUpstream) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"http://127.0.0.1:{mock.port}/_served").json()
    return answer


def call(mock: MockUpstream, user: str, **fields: Any) -> httpx.Response:
    body = {"model": "demo", "messages": MESSAGES, "user": user, **fields}
    return httpx.post(f"{mock.base_url}/chat/completions", json=body, timeout=10)


def test_whole_answers_are_listed_with_their_usage() -> None:
    with MockUpstream(token_delay_ms=1) as mock:
        call(mock, "plain")
        call(mock, "streamed", stream=True)  # usage not asked for: still counted
        log = served(mock)
    full = {"prompt_tokens": PROMPT, "completion_tokens": count_text(REPLY, "demo")}
    assert log["received"] == log["served"] == 2 and log["dropped"] == 0
    assert log["calls"] == [
        {"user": "plain", "stream": False, **full, "finished": True},
        {"user": "streamed", "stream": True, **full, "finished": True},
    ]


def test_a_stream_left_midway_counts_the_tokens_sent() -> None:
    text_chunks = 4  # read: the role chunk, then four one-token pieces of text
    with MockUpstream(token_delay_ms=STREAM_DELAY_MS) as mock:
        body = {"model": "demo", "messages": MESSAGES, "user": "left", "stream": True}
        with httpx.stream("POST", f"{mock.base_url}/chat/completions", json=body) as reply:
            events = (line for line in reply.iter_lines() if line.startswith("data: "))
            for _ in range(1 + text_chunks):
                next(events)
        deadline = time.monotonic() + 5
        while not (calls := served(mock)["calls"]) and time.monotonic() < deadline:
            time.sleep(0.02)
    (entry,) = calls
    # The client left after reading 4 tokens; the mock may have sent a few more.
    assert entry["user"] == "left" and entry["stream"] and not entry["finished"]
    assert entry["prompt_tokens"] == PROMPT
    assert text_chunks <= entry["completion_tokens"] < count_text(REPLY, "demo")


def test_refused_calls_are_received_but_not_served() -> None:
    with MockUpstream(fail_status=500) as mock:
        assert call(mock, "refused").status_code == 500
        log = served(mock)
    assert (log["received"], log["served"], log["calls"]) == (1, 0, [])
