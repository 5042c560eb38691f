"""The whole suite as separate processes, the way `tollgate up` runs it, for tests.

`start_suite` runs one process a service; `start_replicated_suite` runs N replicas of
each, every one on its own port, dialled through a multi-address gRPC target
(`ipv4:127.0.0.1:P1,127.0.0.1:P2`, spread by round_robin). A process is known by its
name (`router`, `router2`, ...); `start(name)` restarts it as it was first started."""

from __future__ import annotations

import os
import random
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

from services.budget.admin import operations as admin
from tollgate.db import make_engine, upgrade
from tollgate.grpcutil import check_health

SERVICES = ("budget", "metering", "router", "gateway")
ALL = "all"  # `tollgate serve all`: the four services in one process
# What each host of several services serves (`tollgate serve all|front|back`).
HOSTED = {ALL: SERVICES, "front": ("router", "gateway"), "back": ("budget", "metering")}


_HANDED_OUT: set[int] = set()


# Under pytest-xdist each worker takes its ports from a band of its own, below the
# OS's ephemeral range (32768 up on Linux), so two workers never pick the same port
# and no outgoing connection takes one between its pick and its bind.
_BAND_START, _BAND_WIDTH = 12_000, 4_000


def _worker_band() -> range | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    index = int(worker[2:])
    if _BAND_START + _BAND_WIDTH * (index + 1) > 32_768:
        return None  # too many workers for the bands: fall back to the OS's choice
    start = _BAND_START + _BAND_WIDTH * index
    return range(start, start + _BAND_WIDTH)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port free now and never handed out before by this process: the OS may offer a
    just-closed port again, and two services of one suite must not be given the same."""
    band = _worker_band()
    if band is not None:
        for port in random.sample(band, len(band)):
            if port not in _HANDED_OUT and _bindable(port):
                _HANDED_OUT.add(port)
                return port
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_http(url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


@dataclass(frozen=True)
class Replica:
    """How one process of the suite is started: its service, and the environment it
    adds to the suite's (its own listening address, for a replica)."""

    service: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Suite:
    home: Path
    env: dict[str, str]
    http_port: int
    engine: Engine
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    replicas: dict[str, Replica] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1"

    @property
    def base_urls(self) -> list[str]:
        """The OpenAI base URL of every gateway replica, the first one first."""
        return [
            f"http://127.0.0.1:{self._env_of(name)['TOLLGATE_HTTP_PORT']}/v1"
            for name in self.names_of("gateway")
        ]

    def names_of(self, service: str) -> list[str]:
        """The names of the service's processes (`router`, `router2`, ...; or the host
        that serves it with others: `all`, `front`)."""
        return [
            name
            for name, replica in self.replicas.items()
            if service in (replica.service, *HOSTED.get(replica.service, ()))
        ]

    def _env_of(self, name: str) -> dict[str, str]:
        return {**self.env, **self.replicas[name].env}

    def start(
        self,
        name: str,
        *,
        service: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start a service; `service` and `env` start an extra replica under another name
        (e.g. a second gateway on its own port), which `stop(name)` stops. Started again
        without them, a process gets what it was first started with."""
        known = self.replicas.get(name)
        self.replicas[name] = Replica(
            service or (known.service if known else name),
            env if env is not None else (known.env if known else {}),
        )
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "tollgate", "serve", self.replicas[name].service],
            env=self._env_of(name),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def _healthy(self, name: str, deadline: float) -> bool:
        env = self._env_of(name)
        service = self.replicas[name].service
        if service in HOSTED:  # the gRPC services, then the gateway
            return all(self._serves(env, s, deadline) for s in HOSTED[service])
        return self._serves(env, service, deadline)

    def _serves(self, env: dict[str, str], service: str, deadline: float) -> bool:
        if service == "gateway":
            # A short wait at a time, so that a gateway that exits is seen at once.
            url = f"http://127.0.0.1:{env['TOLLGATE_HTTP_PORT']}/healthz"
            return wait_http(url, min(deadline, time.monotonic() + 0.5))
        key = f"TOLLGATE_{service.upper()}"
        return check_health(env.get(f"{key}_LISTEN") or env[f"{key}_ADDR"], 0.5)

    def wait_healthy(self, names: tuple[str, ...] = SERVICES, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited {process.returncode}:\n{self.log(name)}")
                if self._healthy(name, deadline):
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


def _suite_env(
    home: Path, database_url: str, config: str | None, extra_env: dict[str, str] | None
) -> dict[str, str]:
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
    return env


def _launch(suite: Suite, replicas: dict[str, Replica]) -> Suite:
    """Start the processes, the services in SERVICES order, and wait until all are
    healthy; on failure stop them all."""
    for name, replica in replicas.items():
        suite.start(name, service=replica.service, env=replica.env)
    try:
        suite.wait_healthy(tuple(replicas))
    except Exception:
        stop_suite(suite)
        raise
    return suite


def start_suite(
    home: Path,
    database_url: str,
    *,
    config: str | None = None,
    extra_env: dict[str, str] | None = None,
    hosts: tuple[str, ...] = (),
) -> Suite:
    """A process a service, or `hosts` of several each (("all",): the four in one
    process; ("back", "front"): two, as `tollgate up` runs them)."""
    # TOLLGATE_TEST_HOSTS=back,front runs the tests that ask for no hosts on those.
    hosts = hosts or tuple(h for h in os.environ.get("TOLLGATE_TEST_HOSTS", "").split(",") if h)
    env = _suite_env(home, database_url, config, extra_env)
    upgrade(database_url)
    suite = Suite(home, env, int(env["TOLLGATE_HTTP_PORT"]), make_engine(database_url))
    if hosts:
        return _launch(suite, {host: Replica(host) for host in hosts})
    return _launch(suite, {name: Replica(name) for name in SERVICES})


def replica_name(service: str, index: int) -> str:
    """`router` for the first replica, `router2`, `router3`... for the others."""
    return service if index == 1 else f"{service}{index}"


def start_replicated_suite(
    home: Path,
    database_url: str,
    *,
    replicas: int = 2,
    config: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Suite:
    """`replicas` processes of each service, each listening on its own port; every
    dialler reaches a service's replicas through one multi-address target, and each
    gateway replica serves HTTP on its own port (`Suite.base_urls`). Router replicas
    share one spool (TOLLGATE_SPOOL_DIR, in `home` unless `extra_env` sets it)."""
    env = _suite_env(home, database_url, config, extra_env)
    env.setdefault("TOLLGATE_SPOOL_DIR", str(home / "spool"))
    started: dict[str, Replica] = {}
    for service in SERVICES:
        key = f"TOLLGATE_{service.upper()}"
        ports = [free_port() for _ in range(replicas)]
        env[f"{key}_ADDR"] = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)
        for index, port in enumerate(ports, 1):
            own = {f"{key}_LISTEN": f"127.0.0.1:{port}"}
            if service == "gateway":
                own["TOLLGATE_HTTP_PORT"] = (
                    env["TOLLGATE_HTTP_PORT"] if index == 1 else str(free_port())
                )
            started[replica_name(service, index)] = Replica(service, own)
    upgrade(database_url)
    suite = Suite(home, env, int(env["TOLLGATE_HTTP_PORT"]), make_engine(database_url))
    return _launch(suite, started)


def stop_suite(suite: Suite) -> None:
    """Stop every process, the gateways first and budget last."""
    for service in reversed(SERVICES):
        for name in suite.names_of(service):
            suite.stop(name)
    suite.engine.dispose()
