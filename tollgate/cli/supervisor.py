"""`tollgate up`: the four services in child processes (by default two: gateway and
router in `tollgate serve front`, budget and metering in `tollgate serve back`; or one,
`tollgate serve all`; or one each, split mode), restarted when they crash, stopped
together on Ctrl-C or SIGTERM. Before starting them it checks that every port they
listen on is free (a second `tollgate up` fails at once instead of restarting children
that cannot bind), then, in a child, brings the database to the current schema and
makes the state folder's internal token (unless TOLLGATE_INTERNAL_TOKEN is set), which
they share: this process only watches the others, so it loads neither SQLAlchemy nor,
unless split, gRPC, and stays at about 25 MB. While it runs, a per-user file names its
state folder, so the CLI run from another folder finds it (tollgate/cli/state.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

from tollgate.cli import state
from tollgate.config import Settings
from tollgate.settings.model import UpMode

# Started in this order: each one's dependencies first.
SERVICES = ("budget", "metering", "router", "gateway")
# The children that host several services each (tollgate/cli/one_process.py), by mode.
HOSTS: dict[UpMode, dict[str, tuple[str, ...]]] = {
    UpMode.ONE: {"all": SERVICES},
    UpMode.TWO: {"back": ("budget", "metering"), "front": ("router", "gateway")},
}
MAX_BACKOFF_SECONDS = 30.0
# How long a child may take to stop after SIGTERM: a service drains for up to 10 s; the
# one process stops its four one after another (gateway, router with its spool, ...).
STOP_GRACE_SECONDS = 10.0
ONE_PROCESS_STOP_GRACE_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start: float = field(default=0.0)

    env: dict[str, str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tollgate", "serve", self.name], env=self.env
        )
        self.started_at = time.monotonic()


def child_env(settings: Settings, service: str, env: Mapping[str, str]) -> dict[str, str]:
    """The environment of one service: the suite's, less the secrets it must not hold.
    Upstream API keys are the router's alone, the admin token the gateway's alone, the
    SMTP password of e-mail alerts Budget's alone."""
    upstream_keys = {p.api_key for p in settings.providers if p.api_key}
    smtp = settings.alerts.email
    smtp_password = smtp.password if smtp is not None else ""
    kept = dict(env)
    for name, value in env.items():
        if service != "router" and (name == "OPENAI_API_KEY" or value in upstream_keys):
            del kept[name]
        elif service != "gateway" and name == "TOLLGATE_ADMIN_TOKEN":
            del kept[name]
        elif service != "budget" and smtp_password and value == smtp_password:
            del kept[name]
    return kept


def _gateway_url(settings: Settings) -> str:
    host = settings.http_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.http_port}"


def _split(listen: str) -> tuple[str, int]:
    """("host", port) of a listen address: 127.0.0.1:8000, [::]:50051, 0.0.0.0:1."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def _in_use(host: str, port: int) -> bool:
    """True when nothing may listen on host:port now (as the services bind: reusing
    an address a closed connection still holds, never one a listener holds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def taken_ports(settings: Settings) -> str:
    """Why the suite cannot start on its configured ports ("" when every one is free)."""
    wanted = [("gateway HTTP", f"{settings.http_host}:{settings.http_port}", "TOLLGATE_HTTP_PORT")]
    wanted += [
        (f"{name} gRPC", settings.listens[name], f"TOLLGATE_{name.upper()}_LISTEN")
        for name in SERVICES
    ]
    for what, listen, variable in wanted:
        try:
            host, port = _split(listen)
        except ValueError:
            return f"{variable}: {listen!r} is not a host:port address"
        if port and _in_use(host, port):
            return (
                f"{what} port {port} ({listen}) is in use; is tollgate already running "
                f"(`tollgate health {what.split()[0]}`)? Stop it, or set {variable}"
            )
    return ""


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 (local URL)
            return bool(reply.status == 200)
    except OSError:
        return False


def _listening(addr: str) -> bool:
    """True when something accepts connections at addr (a gRPC server does once it
    has started, and serves from then on)."""
    try:
        host, port = _split(addr)
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def prepare_state(settings: Settings) -> bool:
    """The database brought to the current schema and the internal token file made
    (unless TOLLGATE_INTERNAL_TOKEN is set), in a child running this module: this
    process stays free of SQLAlchemy. False when that failed (the child said why)."""
    env = {**os.environ, "TOLLGATE_HOME": str(settings.home)}
    env["TOLLGATE_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "tollgate.cli.supervisor"]
    return subprocess.run(command, env=env, check=False).returncode == 0


def _prepare_here() -> int:
    """What prepare_state's child runs."""
    from tollgate.cli.common import engine_for
    from tollgate.cli.failures import report
    from tollgate.config import load_settings
    from tollgate.internal_token import internal_token

    try:
        settings = load_settings()
        engine_for(settings).dispose()
        internal_token(settings)
    except Exception as exc:  # an expected failure is one line; anything else a bug
        explained = report(exc)
        if explained is None:
            raise
        return explained
    return 0


def _wait_healthy(
    settings: Settings, children: dict[str, Child], deadline: float, mode: UpMode
) -> bool:
    if mode is UpMode.SPLIT:
        from tollgate.grpcutil import check_health

        def grpc_ok(addr: str) -> bool:
            return check_health(addr, timeout=0.5)
    else:  # one process: the services' own addresses accept once they serve
        grpc_ok = _listening
    pending = set(SERVICES)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            if name == "gateway":
                healthy = _http_ok(_gateway_url(settings) + "/healthz")
            else:
                healthy = grpc_ok(settings.addrs[name])
            if healthy:
                pending.discard(name)
        for child in children.values():
            if child.process and child.process.poll() is not None:
                return False
        time.sleep(0.2)
    return not pending


def _stop(children: dict[str, Child]) -> None:
    running = [c.process for c in children.values() if c.process and c.process.poll() is None]
    if any(name not in SERVICES for name in children):
        # Hosts of several services: the front's router delivers its spool to the
        # back's metering as it stops, so the back stops once the front has.
        for process in reversed(running):
            _stop_one(process, ONE_PROCESS_STOP_GRACE_SECONDS)
        return
    for process in reversed(running):  # the gateway first, so no new calls arrive
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running:
        _stop_one(process, max(deadline - time.monotonic(), 0.1), signalled=True)


def _stop_one(process: subprocess.Popen[bytes], grace: float, signalled: bool = False) -> None:
    if not signalled:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def host_env(
    settings: Settings, services: tuple[str, ...], env: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a process hosting `services`: what any of them may hold."""
    kept = [child_env(settings, service, env) for service in services]
    return {name: value for name, value in env.items() if any(name in k for k in kept)}


def _children(settings: Settings, mode: UpMode) -> dict[str, Child]:
    if mode in HOSTS:
        return {
            name: Child(name, env=host_env(settings, services, os.environ))
            for name, services in HOSTS[mode].items()
        }
    from tollgate.grpcutil import use_internal_credential

    use_internal_credential(settings)  # with TLS, the health checks need it
    return {name: Child(name, env=child_env(settings, name, os.environ)) for name in SERVICES}


def run(settings: Settings, mode: UpMode = UpMode.TWO) -> int:
    stopping = False

    def _on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if not prepare_state(settings):  # the children read the token file this makes
        return 1
    children = _children(settings, mode)
    for child in children.values():
        child.start()
    if not _wait_healthy(settings, children, time.monotonic() + 60, mode):
        print("tollgate: a service did not become healthy; see the log above", file=sys.stderr)
        _stop(children)
        return 1
    url = _gateway_url(settings)
    state.record_running_suite(os.environ, settings.home, os.getpid(), url)
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
    state.forget_running_suite(os.environ, os.getpid())
    print("tollgate stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_prepare_here())
