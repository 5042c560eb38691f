"""`tollgate up`: starts the four services, restarts one that crashes, and stops them
all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai

from tests.e2e.suite import SERVICES, free_port
from tollgate import admin
from tollgate.db import make_engine
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
