"""The whole suite as separate processes, the way `tollgate up` runs it, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tollgate import admin
from tollgate.db import make_engine, upgrade
from tollgate.grpcutil import check_health

SERVICES = ("budget", "metering", "router", "gateway")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


@dataclass
class Suite:
    home: Path
    env: dict[str, str]
    http_port: int
    engine: Engine
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1"

    def start(
        self, name: str, *, service: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        """Start a service; `service` and `env` start an extra replica under another name
        (e.g. a second gateway on its own port), which `stop(name)` stops."""
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "tollgate", "serve", service or name],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_healthy(self, names: tuple[str, ...] = SERVICES, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited {process.returncode}:\n{self.log(name)}")
                if name == "gateway":
                    healthy = wait_http(f"http://127.0.0.1:{self.http_port}/healthz", deadline)
                else:
                    healthy = check_health(self.env[f"TOLLGATE_{name.upper()}_ADDR"], 0.5)
                if healthy:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not become healthy:\n{self.log(name)}")
                time.sleep(0.1)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return int(process.returncode)

    def log(self, name: str, tail: int | None = 5000) -> str:
        path = self.home / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-tail:] if tail else text

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "tollgate", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"tollgate {' '.join(args)} failed:\n{result.stderr}")
        return result

    def project_with_key(self, name: str, budget: str | None = None, **kw: Any) -> tuple[str, str]:
        """A new project and one key for it: (project id, secret)."""
        project = admin.create_project(self.engine, name, monthly_budget=budget, **kw)
        return project.id, admin.create_key(self.engine, name).secret


def start_suite(
    home: Path,
    database_url: str,
    *,
    config: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Suite:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env.update(
        {
            "TOLLGATE_HOME": str(home),
            "TOLLGATE_DATABASE_URL": database_url,
            "TOLLGATE_HTTP_PORT": str(free_port()),
            "TOLLGATE_LOG_LEVEL": "INFO",
        }
    )
    for name in SERVICES:
        env[f"TOLLGATE_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    if config is not None:
        (home / "tollgate.yaml").write_text(config)
        env["TOLLGATE_CONFIG"] = str(home / "tollgate.yaml")
    env.update(extra_env or {})
    upgrade(database_url)
    suite = Suite(home, env, int(env["TOLLGATE_HTTP_PORT"]), make_engine(database_url))
    for name in SERVICES:
        suite.start(name)
    try:
        suite.wait_healthy()
    except Exception:
        stop_suite(suite)
        raise
    return suite


def stop_suite(suite: Suite) -> None:
    for name in reversed(SERVICES):
        if name in suite.processes:
            suite.stop(name)
    suite.engine.dispose()
