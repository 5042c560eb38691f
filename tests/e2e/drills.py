"""Crash drills: load the suite, SIGKILL a process mid-load, restart it.

A drill's calls carry a tag in OpenAI's `user` field, which reaches both the mock
upstream (it lists the calls it served by tag, with the tokens it sent, at
`GET /_served`) and the ledger (`end_user`). A call the upstream served must show up
in the ledger exactly once, however the client saw it end; drill_checks.py compares
the two, with the bill and the budget counters.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.e2e.drill_checks import RESERVATION_TTL_SECONDS
from tests.e2e.suite import Suite, free_port, wait_http

MODEL = "drill-model"
UPSTREAM_KEY = "sk-drill-upstream"
TOKEN_DELAY_MS = 40  # a streamed answer of ~30 tokens takes about a second and a half
MAX_CALL_SECONDS = 10  # below the TTL, as config.py requires
ADMIN_TOKEN = "drill-admin-token-0123456789"
# Short holds, so "nothing stays reserved after the TTL" is checked within the drill.
DRILL_ENV = {
    "TOLLGATE_RESERVATION_TTL_SECONDS": str(RESERVATION_TTL_SECONDS),
    "TOLLGATE_MAX_CALL_SECONDS": str(MAX_CALL_SECONDS),
    "TOLLGATE_ADMIN_TOKEN": ADMIN_TOKEN,
    "DRILL_UPSTREAM_KEY": UPSTREAM_KEY,
}


def drill_config(upstream_url: str) -> str:
    """The suite's YAML: one OpenAI-compatible provider (the mock) and its price."""
    return (
        "providers:\n"
        f"  - {{name: mock, kind: openai, base_url: '{upstream_url}',"
        f" api_key_env: DRILL_UPSTREAM_KEY, models: [{MODEL}], timeout_seconds: 30}}\n"
        "prices:\n"
        f"  - {{model: {MODEL}, input: '21', output: '105', currency: CNY}}\n"
    )


class MockProcess:
    """`tollgate mock-upstream` in a process of its own, with slow streams."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        log = open(home / "mock-upstream.log", "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tollgate", "mock-upstream"),
                *("--port", str(self.port), "--api-key", UPSTREAM_KEY),
                *("--token-delay-ms", str(TOKEN_DELAY_MS)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if not wait_http(f"{self.base_url}/models", time.monotonic() + 30):
            self.stop()
            raise RuntimeError("the mock upstream did not start")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"http://127.0.0.1:{self.port}/_served").json()
        return answer

    def served(self, tag: str) -> list[dict[str, Any]]:
        """The calls it served whose `user` is `tag-<n>`."""
        return [call for call in self.log()["calls"] if call["user"].startswith(f"{tag}-")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class Caller:
    name: str  # the project's
    project_id: str
    secret: str


@dataclass
class Load:
    """`calls` calls started `interval` seconds apart, each a plain call or a slow
    stream, to a gateway and for a caller, all three drawn at random (seeded by the
    call's tag, so a drill sends the same load every run)."""

    tag: str
    base_urls: list[str]
    callers: list[Caller]
    calls: int = 80
    interval: float = 0.1
    outcomes: dict[str, str] = field(default_factory=dict)  # tag -> "ok" or the error

    def run(self, during: Callable[[], None]) -> None:
        """Send the load; `during` runs meanwhile (the kill and the restart)."""
        clients = [
            openai.OpenAI(base_url=url, api_key=caller.secret, max_retries=0, timeout=30)
            for caller in self.callers
            for url in self.base_urls
        ]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=24) as pool:
            for i in range(self.calls):
                pool.submit(self._call, clients, i, started + i * self.interval)
            during()
        for client in clients:
            client.close()

    def _call(self, clients: list[openai.OpenAI], i: int, at: float) -> None:
        tag = f"{self.tag}-{i}"
        draw = random.Random(tag)
        client, streamed = draw.choice(clients), draw.random() < 0.5
        messages: Any = [{"role": "user", "content": f"call {tag}: echo these words slowly"}]
        time.sleep(max(0.0, at - time.monotonic()))
        try:
            if streamed:
                stream = client.chat.completions.create(
                    model=MODEL,
                    messages=messages,
                    user=tag,
                    max_tokens=64,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                for _ in stream:
                    pass
            else:
                client.chat.completions.create(
                    model=MODEL, messages=messages, user=tag, max_tokens=64
                )
            self.outcomes[tag] = "ok"
        except openai.APIStatusError as exc:  # any failure the client sees is allowed
            self.outcomes[tag] = f"{exc.status_code} {exc.code}"
        except Exception as exc:
            self.outcomes[tag] = f"{type(exc).__name__}: {str(exc)[:80]}"


def warm_up(suite: Suite) -> None:
    """A few calls through every gateway before the first drill: a process's first
    calls (channels, caches, the SDK's first parse) take a second or more, and a
    drill should kill a suite in its stride, not one still starting."""
    project_id, secret = suite.project_with_key("warm-up")
    load = Load("warm-up", suite.base_urls, [Caller("warm-up", project_id, secret)], calls=8)
    load.run(lambda: None)
    if set(load.outcomes.values()) != {"ok"}:
        raise RuntimeError(f"the suite does not answer: {load.outcomes}")


def admin(suite: Suite, method: str, path: str, body: Any = None) -> Any:
    """A call of the admin API (the bill, rate limits) on the first gateway."""
    base = suite.base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    reply = httpx.request(method, base + path, json=body, headers=headers, timeout=30)
    reply.raise_for_status()
    return reply.json()


def kill_and_restart(
    suite: Suite, name: str, after: float, down: float = 1.0
) -> Callable[[], None]:
    """What runs during the load: SIGKILL `name` `after` seconds in, start it again
    `down` seconds later (so calls meet it dead), and wait until it is healthy."""

    def drill() -> None:
        time.sleep(after)
        suite.stop(name, signal.SIGKILL)
        time.sleep(down)
        suite.start(name)
        suite.wait_healthy((name,))

    return drill
