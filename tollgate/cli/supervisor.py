"""`tollgate up`: the four services as child processes, restarted when they crash,
stopped together on Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from tollgate.config import Settings
from tollgate.grpcutil import check_health

# Started in this order: each one's dependencies first.
SERVICES = ("budget", "metering", "router", "gateway")
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tollgate", "serve", self.name])
        self.started_at = time.monotonic()


def _gateway_url(settings: Settings) -> str:
    host = settings.http_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.http_port}"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 (local URL)
            return bool(reply.status == 200)
    except OSError:
        return False


def _wait_healthy(settings: Settings, children: dict[str, Child], deadline: float) -> bool:
    pending = set(SERVICES)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            if name == "gateway":
                healthy = _http_ok(_gateway_url(settings) + "/healthz")
            else:
                healthy = check_health(settings.addrs[name], timeout=0.5)
            if healthy:
                pending.discard(name)
        for child in children.values():
            if child.process and child.process.poll() is not None:
                return False
        time.sleep(0.2)
    return not pending


def _stop(children: dict[str, Child], grace: float = 10.0) -> None:
    running = [c.process for c in children.values() if c.process and c.process.poll() is None]
    for process in reversed(running):  # the gateway first, so no new calls arrive
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(settings: Settings) -> int:
    stopping = False

    def _on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    children = {name: Child(name) for name in SERVICES}
    for child in children.values():
        child.start()
    if not _wait_healthy(settings, children, time.monotonic() + 60):
        print("tollgate: a service did not become healthy; see the log above", file=sys.stderr)
        _stop(children)
        return 1
    url = _gateway_url(settings)
    print(f"tollgate is up: {url}/v1  (OpenAI base_url; Ctrl-C stops it)", flush=True)
    while not stopping:
        time.sleep(0.2)
        now = time.monotonic()
        for child in children.values():
            if child.process is None:
                if now >= child.next_start:
                    child.start()
                continue
            code = child.process.poll()
            if code is None or stopping:
                continue
            if now - child.started_at > HEALTHY_AFTER_SECONDS:
                child.restarts = 0
            backoff = min(2.0**child.restarts, MAX_BACKOFF_SECONDS)
            child.restarts += 1
            print(
                f"tollgate: {child.name} exited with {code}; restarting in {backoff:.0f}s",
                file=sys.stderr,
                flush=True,
            )
            child.process = None
            child.next_start = now + backoff
    _stop(children)
    print("tollgate stopped", flush=True)
    return 0
