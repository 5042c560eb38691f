"""Shared by the security suites: the whole suite on SQLite with the admin API on,
one project with a generous budget and a key, and the checks that every service
outlived what was thrown at it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.suite import SERVICES, Suite, start_suite, stop_suite
from tests.security.hostile_uploads import FILE_MAX_BYTES
from tollgate.grpcutil import check_health

ADMIN_TOKEN = "fuzz-admin-token-0123456789abcde"  # 32 characters
FUZZ_PROJECT = "fuzz-target-project"
PROJECT_FRAME = re.compile(r'File ".*?/((?:services|tollgate|tests)/[^"]+)", line (\d+), in (\w+)')


@dataclass(frozen=True)
class FuzzTarget:
    suite: Suite
    project_id: str
    secret: str  # a project key of FUZZ_PROJECT
    pids: dict[str, int]  # each service's process id when the run began

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.suite.http_port}"


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    home = tmp_path_factory.mktemp("fuzz-suite")
    suite = start_suite(
        home,
        f"sqlite:///{home / 'tollgate.db'}",
        extra_env={
            "TOLLGATE_ADMIN_TOKEN": ADMIN_TOKEN,
            "TOLLGATE_FILE_MAX_BYTES": str(FILE_MAX_BYTES),
        },
    )
    try:
        project_id, secret = suite.project_with_key(FUZZ_PROJECT, budget="1000000")
        pids = {name: process.pid for name, process in suite.processes.items()}
        yield FuzzTarget(suite, project_id, secret, pids)
    finally:
        stop_suite(suite)


def dead_services(target: FuzzTarget) -> list[str]:
    """The services that exited, were replaced, or no longer answer their health check."""
    suite = target.suite
    dead = []
    for name in SERVICES:
        process = suite.processes[name]
        if process.poll() is not None or process.pid != target.pids[name]:
            dead.append(f"{name} (exited {process.returncode})")
        elif name != "gateway" and not check_health(suite.env[f"TOLLGATE_{name.upper()}_ADDR"], 2):
            dead.append(f"{name} (unhealthy)")
    try:
        healthy = httpx.get(f"{target.root}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        healthy = False
    if not healthy:
        dead.append("gateway (/healthz does not answer 200)")
    return dead


class LogWatch:
    """The errors the services log while one request is served: `mark()` before
    sending it, `errors()` after its answer. Each error is its exception line and
    the deepest frame in tollgate's own code, so a failing input leads to its line."""

    def __init__(self, suite: Suite) -> None:
        self.paths = {name: suite.home / f"{name}.log" for name in SERVICES}
        self.offsets = dict.fromkeys(SERVICES, 0)

    def mark(self) -> None:
        for name, path in self.paths.items():
            self.offsets[name] = path.stat().st_size if path.exists() else 0

    def errors(self) -> list[str]:
        found: list[str] = []
        for name, path in self.paths.items():
            with path.open("rb") as log:
                log.seek(self.offsets[name])
                text = log.read().decode(errors="replace")
            for error in tracebacks(text):
                if f"{name}: {error}" not in found:
                    found.append(f"{name}: {error}")
        return found


def tracebacks(text: str) -> list[str]:
    """'ExceptionType: message (at path:line in function)' for each traceback in text."""
    found = []
    frame = ""
    inside = False
    for line in text.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            inside, frame = True, ""
        elif inside and line.startswith("  File "):
            match = PROJECT_FRAME.search(line)
            frame = f"{match[1]}:{match[2]} in {match[3]}" if match else frame
        elif inside and line and not line.startswith(" "):
            inside = False
            error = f"{line[:160]} (at {frame or 'a library frame'})"
            if error not in found:
                found.append(error)
    return found
