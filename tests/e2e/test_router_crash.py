"""A router killed with calls in flight loses none of their usage (issue 8): each
call was opened in the spool before its upstream request and checkpointed as it
streamed, so the restarted router settles every one exactly once, as interrupted,
estimated, at its prompt plus the output checkpointed, and frees its hold."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import BUDGET_COUNTERS, LEDGER, RESERVATIONS
from tollgate.tokens import count_chat_prompt, count_text
from tollgate_mocks.openai_upstream import MockUpstream

KEY = "provider-key-for-crash-tests"
MODEL = "slow"
TOKEN_DELAY_MS = 200
# Checkpoints come at least once a second: at most this many tokens behind.
CHECKPOINT_TOKENS = 1000 // TOKEN_DELAY_MS
SEEN_TARGETS = (4, 6, 8, 10, 12, 14, 16)  # tokens each client reads before the crash
MESSAGES = [{"role": "user", "content": "tell me " * 40}]
INPUT_NANO, OUTPUT_NANO = 21_000, 105_000  # CNY 21 and 105 per million tokens, per token


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Suite, MockUpstream]]:
    upstream = MockUpstream(api_key=KEY, token_delay_ms=TOKEN_DELAY_MS).start()
    config = (
        "providers:\n"
        f"  - {{name: up, kind: openai, base_url: '{upstream.base_url}',"
        f" api_key_env: PROVIDER_KEY, models: [{MODEL}]}}\n"
        "prices:\n"
        f"  - {{model: {MODEL}, input: '21', output: '105', currency: CNY}}\n"
    )
    suite = start_suite(
        tmp_path,
        f"sqlite:///{tmp_path / 'tollgate.db'}",
        config=config,
        extra_env={"PROVIDER_KEY": KEY, "TOLLGATE_OPEN_CALL_STALE_SECONDS": "3"},
    )
    try:
        yield suite, upstream
    finally:
        stop_suite(suite)
        upstream.stop()


async def _stream_until(
    client: httpx.AsyncClient, secret: str, target: int, seen: dict[str, int], held: list[object]
) -> None:
    """Stream one call until `target` tokens came, then hold it open, unread."""
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {secret}"}
    stream = client.stream("POST", "/chat/completions", json=body, headers=headers)
    reply = await stream.__aenter__()
    held.append(stream)
    assert reply.status_code == 200
    request_id = reply.headers["x-request-id"]
    text = ""
    lines = reply.aiter_lines()
    held.append(lines)  # unreferenced, it would be closed, and the call with it
    async for line in lines:
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text += choice["delta"].get("content") or ""
        seen[request_id] = count_text(text, MODEL)
        if seen[request_id] >= target:
            return


def test_a_killed_router_leaves_every_call_in_flight_billed_once(
    world: tuple[Suite, MockUpstream],
) -> None:
    suite, _ = world
    _, secret = suite.project_with_key("p", budget="100")  # a hard budget: calls hold money
    seen: dict[str, int] = {}

    async def calls_then_crash() -> None:
        held: list[object] = []
        async with httpx.AsyncClient(base_url=suite.base_url, timeout=60) as client:
            await asyncio.gather(
                *(_stream_until(client, secret, n, seen, held) for n in SEEN_TARGETS)
            )
            suite.stop("router", signal.SIGKILL)
            for stream in held:
                if hasattr(stream, "__aexit__"):
                    with contextlib.suppress(httpx.HTTPError):
                        await stream.__aexit__(None, None, None)

    asyncio.run(calls_then_crash())
    assert len(seen) == len(SEEN_TARGETS)
    assert list((suite.home / "spool").glob("*.open"))  # left behind by the dead router
    suite.start("router")
    suite.wait_healthy(("router",))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with suite.engine.connect() as conn:
            rows = conn.execute(select(LEDGER).where(LEDGER.c.request_id.in_(seen))).all()
        if len(rows) == len(seen):
            break
        time.sleep(0.2)
    time.sleep(1)  # any second settlement would land now
    with suite.engine.connect() as conn:
        rows = conn.execute(select(LEDGER).where(LEDGER.c.request_id.in_(seen))).all()
        holds = conn.execute(select(RESERVATIONS).where(RESERVATIONS.c.request_id.in_(seen))).all()
        reserved = conn.execute(select(BUDGET_COUNTERS.c.reserved_nano)).scalars().all()
    assert sorted(r.request_id for r in rows) == sorted(seen)  # exactly one row each
    prompt = count_chat_prompt(MESSAGES, MODEL)
    for row in rows:
        assert (row.status, row.usage_source) == ("interrupted", "estimated")
        assert row.prompt_tokens == prompt
        assert row.completion_tokens >= seen[row.request_id] - CHECKPOINT_TOKENS, row
        assert row.cost_nano == row.prompt_tokens * INPUT_NANO + row.completion_tokens * OUTPUT_NANO
    assert {h.state for h in holds} == {"settled"} and len(holds) == len(seen)
    assert set(reserved) == {0}  # nothing stays reserved
    assert list((suite.home / "spool").glob("*.open")) == []
