"""`tollgate up`: starts the four services (in one process by default, or one each
with --split), restarts one that crashes, and stops them all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import select

from services.budget.admin import operations as admin
from tests.e2e.suite import SERVICES, free_port
from tollgate.db import make_engine
from tollgate.db.models import LedgerEntry
from tollgate.grpcutil import check_health


def children_of(pid: int) -> dict[str, int]:
    """The service each child process of pid serves, by name."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"serve" in cmdline:
            found[cmdline[cmdline.index(b"serve") + 1].decode()] = int(entry.name)
    return found


def wait_for(condition, timeout: float = 30) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_up_restarts_a_crashed_service_and_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env["TOLLGATE_UP_MODE"] = "split"  # a process each, so one can crash alone
    env["TOLLGATE_HOME"] = str(tmp_path)
    env["TOLLGATE_HTTP_PORT"] = str(free_port())
    for name in SERVICES:
        env[f"TOLLGATE_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    up = subprocess.Popen(
        [sys.executable, "-m", "tollgate", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in up.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "tollgate is up" in line:
                break
        assert f"http://127.0.0.1:{env['TOLLGATE_HTTP_PORT']}/v1" in lines[-1], lines
        first = children_of(up.pid)
        assert set(first) == set(SERVICES)

        os.kill(first["router"], signal.SIGKILL)
        assert wait_for(lambda: children_of(up.pid).get("router") not in (None, first["router"]))
        assert wait_for(lambda: check_health(env["TOLLGATE_ROUTER_ADDR"], 0.5))

        engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
        admin.create_project(engine, "p")
        secret = admin.create_key(engine, "p").secret
        engine.dispose()
        sdk = openai.OpenAI(
            base_url=f"http://127.0.0.1:{env['TOLLGATE_HTTP_PORT']}/v1", api_key=secret
        )
        reply = sdk.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content

        running = children_of(up.pid)
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=30) == 0
        for pid in running.values():
            assert (
                not Path(f"/proc/{pid}").exists()
                or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
            )
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_up_gives_upstream_keys_to_the_router_alone_and_the_admin_token_to_the_gateway(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    upstream_key, admin_token = "sk-upstream-secret-0123456789", "admin-token-0123456789abcdef"
    env.update(
        TOLLGATE_HOME=str(tmp_path),
        TOLLGATE_HTTP_PORT=str(free_port()),
        OPENAI_API_KEY=upstream_key,
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",  # never called
        TOLLGATE_ADMIN_TOKEN=admin_token,
    )
    for name in SERVICES:
        env[f"TOLLGATE_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    up = subprocess.Popen(
        [sys.executable, "-m", "tollgate", "up", "--split"],  # one process holds them all
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: set(children_of(up.pid)) == set(SERVICES))
        for service, pid in children_of(up.pid).items():
            environ = (Path("/proc") / str(pid) / "environ").read_bytes()
            assert (upstream_key.encode() in environ) == (service == "router"), service
            assert (admin_token.encode() in environ) == (service == "gateway"), service
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


@pytest.mark.parametrize(
    ("flag", "said", "hosts"),
    [
        ("--one-process", "the four services in one process", {"all"}),
        ("--two-processes", "gateway and router in one process", {"front", "back"}),
    ],
)
def test_up_hosts_several_services_a_process_and_restarts_a_crashed_host(
    tmp_path: Path, flag: str, said: str, hosts: set[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env["TOLLGATE_HOME"] = str(tmp_path)
    env["TOLLGATE_HTTP_PORT"] = str(free_port())
    for name in SERVICES:
        env[f"TOLLGATE_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    up = subprocess.Popen(
        [sys.executable, "-m", "tollgate", "up", flag],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in up.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "tollgate is up" in line:
                break
        assert said in lines[0], lines
        first = children_of(up.pid)
        assert set(first) == hosts
        router_host = "all" if "all" in hosts else "front"
        for name in SERVICES[:-1]:  # each serves its own contract on its own address
            assert check_health(env[f"TOLLGATE_{name.upper()}_ADDR"], 2), name
        # The supervisor only watches: it loads neither gRPC nor SQLAlchemy.
        maps = (Path("/proc") / str(up.pid) / "maps").read_text()
        assert "cygrpc" not in maps and "sqlalchemy" not in maps

        os.kill(first[router_host], signal.SIGKILL)
        assert wait_for(
            lambda: children_of(up.pid).get(router_host) not in (None, first[router_host])
        )
        assert wait_for(lambda: check_health(env["TOLLGATE_ROUTER_ADDR"], 0.5), 60)

        engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
        admin.create_project(engine, "p")
        secret = admin.create_key(engine, "p").secret
        sdk = openai.OpenAI(
            base_url=f"http://127.0.0.1:{env['TOLLGATE_HTTP_PORT']}/v1", api_key=secret
        )
        assert wait_for(lambda: check_health(env["TOLLGATE_BUDGET_ADDR"], 0.5), 60)
        assert wait_for(lambda: _http_ok(f"http://127.0.0.1:{env['TOLLGATE_HTTP_PORT']}/healthz"))
        reply = sdk.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content

        running = children_of(up.pid)
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=70) == 0
        for child in running.values():
            assert not Path(f"/proc/{child}").exists() or (
                "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
            )
        with engine.connect() as conn:  # the call is billed once: its usage was delivered
            rows = conn.execute(select(LedgerEntry.__table__)).all()
        assert len(rows) == 1
        engine.dispose()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
