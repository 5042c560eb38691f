"""What the benchmark runs: the mock upstream and `tollgate up`, each logging to a file
in the bench's temporary home and started in a session of its own (so a Ctrl-C reaches
only the bench, which then stops them, by id, in order), plus two projects and a key
of each: `bench` (no budget, no rate limit) and `bench-budget` (a hard budget, so every
call reserves and settles, and in-process rate limits on every axis)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

MODEL = "gpt-4o-mini"  # has a default price, so Budget.Authorize allows it
STREAM_MODEL = "gpt-4o"  # the streaming case's, served by a provider of its own
PROJECT = "bench"
BUDGETED = "bench-budget"
# Never reached by the bench: every call still reserves against the budget and takes
# from every rate limit, but none is refused.
BUDGET_AMOUNT = "1000000"
LIMITS = ("--rpm", "2000000000", "--tpm", "2000000000", "--concurrency", "10000")
UP_LINE = re.compile(r"tollgate is up: (\S+)")
SERVICES = ("gateway", "router", "metering", "budget")
REPO = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """The bench cannot go on; the message says why."""


def tollgate_command() -> str:
    """The `tollgate` script next to this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "tollgate"
    found = str(beside) if beside.exists() else shutil.which("tollgate")
    if not found:
        raise BenchError("cannot find the `tollgate` command; run `make install` first")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def suite_env(home: Path, config: Path) -> dict[str, str]:
    """The environment without inherited TOLLGATE_*/OPENAI_* settings, plus free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env["TOLLGATE_HOME"] = str(home)
    env["TOLLGATE_CONFIG"] = str(config)
    env["TOLLGATE_HTTP_PORT"] = str(free_port())
    env["TOLLGATE_LOG_LEVEL"] = "WARNING"
    for name in SERVICES:
        env[f"TOLLGATE_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    return env


def start(
    args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd
        )


def stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM, then SIGKILL to the process's own group if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group this process leads, and only it
        process.wait()


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{url} did not come up; its process exited:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 (local URL)
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{url} did not answer within {timeout:.0f} s:\n{tail(log)}")


def wait_up_line(process: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    """The base URL `tollgate up` prints once every service is healthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = UP_LINE.search(log.read_text(errors="replace")) if log.exists() else None
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise BenchError(f"`tollgate up` exited with {process.returncode}:\n{tail(log)}")
        time.sleep(0.1)
    raise BenchError(f"`tollgate up` was not up within {timeout:.0f} s:\n{tail(log)}")


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [tollgate_command(), *args], env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise BenchError(f"`tollgate {' '.join(args)}` failed:\n{result.stderr[-3000:]}")
    return result.stdout


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """`url` with a fresh schema of its own on the search path, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    schema = f"bench_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        raise BenchError(f"cannot create a schema in {url}: {exc}") from None
    try:
        option = quote(f"-csearch_path={schema}")
        yield f"{url}{'&' if '?' in url else '?'}options={option}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def use_database(env: dict[str, str], url: str | None, stack: ExitStack) -> str:
    """Point `env` at the database to bench on; says which, for the report."""
    if not url:
        return "sqlite, in the temporary home"
    if url.startswith("postgresql") and "options=" not in url:
        env["TOLLGATE_DATABASE_URL"] = stack.enter_context(postgres_schema(url))
        return f"{url}, in a fresh schema dropped afterwards"
    env["TOLLGATE_DATABASE_URL"] = url
    return f"{url}, as given (the bench's rows stay there)"


@dataclass(frozen=True)
class Suite:
    env: dict[str, str]  # for `tollgate` commands against the running suite
    home: Path
    gateway_url: str  # .../v1
    secret: str  # a key of PROJECT
    budgeted_secret: str  # a key of BUDGETED
    database: str  # what to print about the database
    setup_calls: int  # calls the setup sent through the gateway (the ledger has them too)
    up_pid: int  # `tollgate up`, whose process tree is the suite
    code: str  # the checkout it runs


def start_suite(
    home: Path,
    stack: ExitStack,
    database_url: str | None,
    upstream: Any,
    checkout: Path | None = None,
    up_args: tuple[str, ...] = (),
) -> Suite:
    """`tollgate up` in front of `upstream` (an upstream.Upstream); `stack` stops it.
    With `checkout`, the suite runs that checkout's code (PYTHONPATH and the working
    directory point at it; the venv's dependencies serve both). `up_args` are added to
    `tollgate up` (e.g. --split)."""
    home.mkdir(parents=True, exist_ok=True)
    tollgate = tollgate_command()
    config = home / "tollgate.yaml"
    config.write_text(
        "providers:\n"
        f'  - name: local\n    kind: openai\n    base_url: "{upstream.json_base}"\n'
        f"    models: [{MODEL}]\n"
        f'  - name: local-stream\n    kind: openai\n    base_url: "{upstream.stream_base}"\n'
        f"    models: [{STREAM_MODEL}]\n"
    )
    env = suite_env(home, config)
    cwd = checkout or REPO
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(checkout), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    database = use_database(env, database_url, stack)
    log = home / "up.log"
    up = start([tollgate, "up", *up_args], env, log, cwd)
    stack.callback(stop, up, 60.0)  # `tollgate up` gives each service 10 s to stop
    gateway_url = wait_up_line(up, log, timeout=120)
    cli(env, "project", "create", PROJECT)
    secret = json.loads(cli(env, "key", "create", "--project", PROJECT, "--json"))["secret"]
    cli(env, "project", "create", BUDGETED)
    budget = ("--period", "monthly", "--amount", BUDGET_AMOUNT, "--hard")
    cli(env, "budget", "set", "--project", BUDGETED, *budget)
    cli(env, "limit", "set", "--project", BUDGETED, *LIMITS)
    budgeted = json.loads(cli(env, "key", "create", "--project", BUDGETED, "--json"))["secret"]
    calls = wait_for_limits(gateway_url, str(budgeted))
    return Suite(
        env, home, gateway_url, str(secret), str(budgeted), database, calls, up.pid, str(cwd)
    )


def wait_for_limits(gateway_url: str, secret: str, timeout: float = 15.0) -> int:
    """Wait until the gateway applies BUDGETED's rate limits (it re-reads them every
    few seconds): its answers then carry x-ratelimit-* headers. Returns the calls sent."""
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    ).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {secret}"}
    deadline = time.monotonic() + timeout
    calls = 0
    while True:
        request = urllib.request.Request(f"{gateway_url}/chat/completions", body, headers)
        calls += 1
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (local URL)
            if reply.headers.get("x-ratelimit-limit-requests"):
                return calls
        if time.monotonic() > deadline:
            raise BenchError(f"the gateway did not apply {BUDGETED}'s rate limits in {timeout} s")
        time.sleep(0.5)


def ledger_requests(suite: Suite, want: int, timeout: float = 15.0) -> int:
    """Requests the ledger holds for both projects, once it has `want` or `timeout` is up."""
    deadline = time.monotonic() + timeout
    while True:
        recorded = sum(
            int(json.loads(cli(suite.env, "bill", "--project", name, "--json"))["requests"])
            for name in (PROJECT, BUDGETED)
        )
        if recorded >= want or time.monotonic() > deadline:
            return recorded
        time.sleep(1.0)


def budget_held(suite: Suite) -> tuple[str, str]:
    """BUDGETED's monthly budget: (spent, still reserved), as the CLI shows them."""
    shown = json.loads(cli(suite.env, "budget", "list", "--project", BUDGETED, "--json"))
    line = next(b for b in shown if b.get("period") == "monthly")
    return str(line.get("spent")), str(line.get("reserved"))


def _interrupt(*_: object) -> NoReturn:
    raise KeyboardInterrupt


def run_in_home(name: str, body: Callable[[Path, ExitStack], int]) -> int:
    """`body(home, stack)` in a fresh temporary home, as a command's main: everything
    `stack` started is stopped, in reverse order, and the home removed, on any exit
    (SIGTERM and Ctrl-C included); a BenchError is printed as `name: ...` (exit 2)."""
    signal.signal(signal.SIGTERM, _interrupt)  # outside the event loop; see measure
    home = Path(tempfile.mkdtemp(prefix=f"tollgate-{name}-"))
    try:
        tollgate_command()
        with ExitStack() as stack:
            return body(home, stack)
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(home, ignore_errors=True)
