"""The CLI and `tollgate up` as a newcomer meets them: every expected failure is one
line and a non-zero exit, a command run from another folder uses the running suite's
state (and says so) or refuses instead of making an empty one, a second `tollgate up`
fails at once, and `tollgate health` tells a dead address from a service that is not
ready. Each command runs as a process, as a user runs it."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.e2e.suite import SERVICES, free_port
from tollgate.cli.failures import explain
from tollgate.cli.main import build_parser
from tollgate.cli.state import running_file

pytestmark = pytest.mark.e2e  # starts the suite as separate processes

SECRET_PASSWORD = "hunter2-not-shown"


def clean_env(root: Path) -> dict[str, str]:
    """No tollgate settings, and a per-user state file of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env["XDG_STATE_HOME"] = str(root / "xdg")
    return env


def tollgate(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `tollgate args` in a session of its own; on timeout everything it started
    (a `tollgate up` that did not fail, and its services) is killed, then it fails."""
    cwd.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "tollgate", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nonsense", "is not a database URL tollgate can use"),
        (f"postgres://tg:{SECRET_PASSWORD}@127.0.0.1:5432/tollgate", "write postgresql://"),
        (f"postgresql+psycopg://tg:{SECRET_PASSWORD}@127.0.0.1:1/tollgate", "cannot be used"),
        (f"mysql://tg:{SECRET_PASSWORD}@127.0.0.1/tollgate", "driver that is not installed"),
    ],
)
def test_a_bad_database_url_is_one_line(tmp_path: Path, url: str, says: str) -> None:
    env = {**clean_env(tmp_path), "TOLLGATE_HOME": str(tmp_path / "state")}
    env["TOLLGATE_DATABASE_URL"] = url
    done = tollgate("db", "upgrade", env=env, cwd=tmp_path)
    line = one_line(done.stderr)
    assert done.returncode == 1 and says in line and "TOLLGATE_DATABASE_URL" in done.stderr + line
    assert SECRET_PASSWORD not in done.stderr + done.stdout


def test_up_with_a_bad_database_url_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    env = {**clean_env(tmp_path), "TOLLGATE_HOME": str(tmp_path / "state")}
    env["TOLLGATE_DATABASE_URL"] = "postgres://tg@127.0.0.1:5432/tollgate"
    env["TOLLGATE_HTTP_PORT"] = str(free_port())
    for name in SERVICES:
        env[f"TOLLGATE_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    done = tollgate("up", env=env, cwd=tmp_path, timeout=30)
    assert done.returncode == 1 and "postgresql://" in one_line(done.stderr)
    assert "tollgate is up" not in done.stdout


def test_health_against_nothing_says_unreachable(tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    done = tollgate("health", "budget", "--addr", addr, env=clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.strip() == f"{addr}: unreachable (nothing answers there)", done.stdout
    assert not (tmp_path / ".tollgate").exists()  # a health check makes no state


def test_health_says_not_serving_only_when_the_service_says_so(tmp_path: Path) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    addr = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        done = tollgate("health", "router", "--addr", addr, env=clean_env(tmp_path), cwd=tmp_path)
        assert done.returncode == 1 and done.stdout.startswith(f"{addr}: NOT SERVING")
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        done = tollgate("health", "router", "--addr", addr, env=clean_env(tmp_path), cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.strip() == f"{addr}: SERVING"
    finally:
        server.stop(None)


def test_a_call_to_an_unreachable_service_is_explained_in_one_line() -> None:
    with grpc.insecure_channel(f"127.0.0.1:{free_port()}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as failed:
            stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
    explained = explain(failed.value)
    assert explained is not None
    message, code = explained
    assert code == 1 and "not reachable" in message and "\n" not in message


def test_a_command_outside_any_state_refuses_to_make_one(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    for argv in (["project", "list"], ["key", "create", "--project", "acme"], ["price", "list"]):
        done = tollgate(*argv, env=clean_env(tmp_path), cwd=elsewhere)
        assert done.returncode == 2 and "no tollgate state here" in one_line(done.stderr)
        assert "TOLLGATE_HOME" in done.stderr
        assert not (elsewhere / ".tollgate").exists()
    done = tollgate("db", "upgrade", env=clean_env(tmp_path), cwd=elsewhere)  # makes one
    assert done.returncode == 0 and (elsewhere / ".tollgate" / "tollgate.db").exists()


def test_a_dead_up_named_in_the_per_user_file_is_not_used(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    home = tmp_path / "old" / ".tollgate"
    home.mkdir(parents=True)
    record = running_file(env)
    record.parent.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record.write_text(json.dumps({"home": str(home), "pid": dead.pid, "url": ""}))
    done = tollgate("project", "list", env=env, cwd=tmp_path / "elsewhere")
    assert done.returncode == 2 and "no tollgate state here" in one_line(done.stderr)


@dataclass
class Up:
    root: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['TOLLGATE_HTTP_PORT']}"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`tollgate up` started as a newcomer does: in a fresh folder, with no settings."""
    root = tmp_path_factory.mktemp("newcomer")
    env = clean_env(root)
    env["TOLLGATE_HTTP_PORT"] = str(free_port())
    for name in SERVICES:
        env[f"TOLLGATE_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    (root / "suite").mkdir()
    log = root / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tollgate", "up"],
            cwd=root / "suite",
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Up(root, env, process, log)
    deadline = time.monotonic() + 120
    while "tollgate is up" not in log.read_text() and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    assert "tollgate is up" in log.read_text(), log.read_text()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_gateway_logs_the_http_address_it_serves(up: Up) -> None:
    log = up.log.read_text()
    assert f"gateway serving HTTP on {up.url}; gRPC health on 127.0.0.1:" in log, log


def test_the_cli_elsewhere_uses_the_running_suites_state_and_says_so(up: Up) -> None:
    elsewhere = up.root / "elsewhere"
    state = up.root / "suite" / ".tollgate"
    done = tollgate("project", "create", "acme", env=up.env, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert f"using {state}, the state of the running `tollgate up`" in done.stderr
    done = tollgate("key", "create", "--project", "acme", "--json", env=up.env, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    secret = json.loads(done.stdout)["secret"]
    request = urllib.request.Request(
        f"{up.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (local URL)
        assert reply.status == 200  # the key is the suite's, not an empty database's
    assert not (elsewhere / ".tollgate").exists()


def test_a_second_up_on_taken_ports_fails_at_once(up: Up) -> None:
    second = up.root / "second"
    started = time.monotonic()
    done = tollgate("up", env=up.env, cwd=second, timeout=30)
    assert done.returncode == 1 and time.monotonic() - started < 20
    line = one_line(done.stderr)
    assert f"port {up.env['TOLLGATE_HTTP_PORT']}" in line and "in use" in line, line
    assert "tollgate is up" not in done.stdout and not (second / ".tollgate").exists()
    with urllib.request.urlopen(f"{up.url}/healthz", timeout=5) as reply:  # noqa: S310
        assert reply.status == 200  # the first suite is untouched


def test_a_stopped_up_forgets_its_state_file(up: Up) -> None:
    record = running_file(up.env)
    assert json.loads(record.read_text())["pid"] == up.process.pid
    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(timeout=30) == 0
    assert not record.exists()


ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    """The README's operator command list, a command a line (continuations joined)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Operator commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [
        line.split("  #", 1)[0].strip()
        for line in block.replace("\\\n", " ").splitlines()
        if line.startswith("tollgate ")
    ]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every runnable command of the parser by its words, with its parser."""
    found: dict[str, Any] = {}
    if parser._defaults.get("fn", 0) != 0:  # runnable itself (`report`, beside `report savings`)
        found[" ".join(path)] = parser
    if parser._subparsers is None:
        return {" ".join(path): parser}
    for name, child in parser._subparsers._group_actions[0].choices.items():  # type: ignore[attr-defined]
        found.update(_commands(child, (*path, name)))
    return found


def test_the_readme_lists_every_command_with_options_that_exist() -> None:
    commands = _commands(build_parser())
    listed = {}
    for line in _readme_commands():
        words = line.split()[1:]
        name = next((" ".join(words[:n]) for n in (2, 1) if " ".join(words[:n]) in commands), None)
        assert name is not None, f"README lists a command tollgate does not have: {line}"
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line))
        known = set(commands[name]._option_string_actions)
        assert options <= known, f"{line}: no such option {options - known}"
        listed[name] = line
    assert set(commands) - set(listed) == set(), "commands missing from the README"
    assert "--json" in listed["price import"] and "--max-output-tokens" in listed["price set"]


def test_the_docs_a_newcomer_follows_say_what_is_true() -> None:
    readme = (ROOT / "README.md").read_text()
    stray = [line for line in readme.splitlines() if line.endswith('API ...")')]
    assert stray == []  # a half-pasted line after "The reference for each"
    assert ".venv/bin/python" in readme.split("## What the gateway answers", 1)[0]
    assert "8080" not in (ROOT / "docs" / "embeddings.md").read_text()  # the gateway is on 8000
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    assert installs and not any("--quiet" in line or " -q" in line for line in installs)
