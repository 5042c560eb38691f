"""The gRPC services trust only each other (issue 8, defect 6).

A direct call to Budget, Metering or Router without the internal credential, or with
a wrong one, is refused with UNAUTHENTICATED before the service acts on it: no
reservation, no ledger row, no upstream call. The health service stays open. With the
credential the same calls work (an internal billing job may call the services). The
credential comes from TOLLGATE_INTERNAL_TOKEN, or from the state folder's file, which
`tollgate up` and the first service to start make, once, mode 0600.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from sqlalchemy import func, select

from services.budget.admin import operations as admin
from tests.e2e.suite import SERVICES, Suite, start_suite, stop_suite
from tollgate.cli import supervisor
from tollgate.config import ConfigError, load_settings
from tollgate.db.models import RESERVATIONS, LedgerEntry
from tollgate.grpcutil import (
    InternalCredential,
    check_health,
    current_credential,
    start_aio_server,
    sync_channel,
    use_credential,
)
from tollgate.internal_token import TOKEN_FILE, ensure_token_file, internal_token
from tollgate.v1 import (
    budget_pb2,
    budget_pb2_grpc,
    common_pb2,
    metering_pb2,
    metering_pb2_grpc,
    router_pb2,
    router_pb2_grpc,
)
from tollgate.v1.common_pb2 import Caller

pytestmark = pytest.mark.e2e  # starts the suite as separate processes

NO_TOKEN = InternalCredential("")
WRONG_TOKEN = InternalCredential("a-wrong-token-of-the-right-length-123")
MILLION = 1_000_000  # demo input tokens: exactly CNY 21.00


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The four services as processes on a fresh state folder: none of them is given
    a token, so they must agree on the one the first of them writes."""
    home = tmp_path_factory.mktemp("internal-auth")
    assert not (home / TOKEN_FILE).exists()
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}")
    yield running
    stop_suite(running)


@pytest.fixture(scope="module")
def token(suite: Suite) -> InternalCredential:
    return InternalCredential((suite.home / TOKEN_FILE).read_text().strip())


def addr(suite: Suite, service: str) -> str:
    return suite.env[f"TOLLGATE_{service.upper()}_ADDR"]


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def project_and_key(suite: Suite, prefix: str) -> Caller:
    name = new_id(prefix)
    # A hard budget: an allowed Authorize leaves a reservation to look for.
    project = admin.create_project(suite.engine, name, monthly_budget="100")
    return Caller(project_id=project.id, key_id=admin.create_key(suite.engine, name).info.id)


# --- one direct call per service -------------------------------------------------------


def authorize(suite: Suite, credential: InternalCredential, caller: Caller, rid: str) -> object:
    with sync_channel(addr(suite, "budget"), credential) as channel:
        return budget_pb2_grpc.BudgetStub(channel).Authorize(
            budget_pb2.AuthorizeRequest(
                request_id=rid,
                caller=caller,
                model="demo",
                prompt_tokens_estimate=10,
                max_completion_tokens=10,
            ),
            timeout=10,
        )


def record_usage(suite: Suite, credential: InternalCredential, caller: Caller, rid: str) -> object:
    """A forged charge of CNY 21.00 on the caller's project."""
    with sync_channel(addr(suite, "metering"), credential) as channel:
        return metering_pb2_grpc.MeteringStub(channel).RecordUsage(
            metering_pb2.UsageRecord(
                request_id=rid,
                caller=caller,
                model_requested="demo",
                model_served="demo",
                provider="demo",
                usage=common_pb2.Usage(prompt_tokens=MILLION),
                usage_source=common_pb2.USAGE_SOURCE_PROVIDER,
                status=metering_pb2.CALL_STATUS_OK,
                http_status=200,
                started_at_unix_ms=int(time.time() * 1000),
            ),
            timeout=10,
        )


def chat(suite: Suite, credential: InternalCredential, caller: Caller, rid: str) -> object:
    body = {"model": "demo", "messages": [{"role": "user", "content": "free lunch?"}]}
    with sync_channel(addr(suite, "router"), credential) as channel:
        return list(
            router_pb2_grpc.RouterStub(channel).ChatCompletion(
                router_pb2.ChatRequest(
                    request_id=rid,
                    caller=caller,
                    model="demo",
                    body=json.dumps(body).encode(),
                    prompt_tokens_estimate=5,
                    started_at_unix_ms=int(time.time() * 1000),
                ),
                timeout=10,
            )
        )


CALLS: dict[str, Callable[[Suite, InternalCredential, Caller, str], object]] = {
    "budget": authorize,
    "metering": record_usage,
    "router": chat,
}


def ledger_rows(suite: Suite, rid: str) -> int:
    with suite.engine.connect() as conn:
        query = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.request_id == rid)
        return int(conn.execute(query).scalar_one())


def reservations(suite: Suite, rid: str) -> int:
    with suite.engine.connect() as conn:
        query = select(func.count()).select_from(RESERVATIONS)
        return int(conn.execute(query.where(RESERVATIONS.c.request_id == rid)).scalar_one())


@pytest.mark.parametrize("credential", [NO_TOKEN, WRONG_TOKEN], ids=["no-token", "wrong-token"])
@pytest.mark.parametrize("service", list(CALLS))
def test_a_call_without_the_credential_is_refused_and_writes_nothing(
    suite: Suite, service: str, credential: InternalCredential
) -> None:
    victim = project_and_key(suite, f"victim-{service}")
    if service == "router":  # a project that does not exist must not be served either
        victim = Caller(project_id="proj_does_not_exist", key_id="key_does_not_exist")
    rid = new_id(f"forged-{service}")
    with pytest.raises(grpc.RpcError) as refused:
        CALLS[service](suite, credential, victim, rid)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    time.sleep(0.5)  # a served call's usage reaches the ledger well within this
    assert ledger_rows(suite, rid) == 0
    assert reservations(suite, rid) == 0
    assert not list((suite.home / "spool").glob("*.rec"))


@pytest.mark.parametrize("service", list(CALLS))
def test_with_the_credential_the_same_call_works(
    suite: Suite, token: InternalCredential, service: str
) -> None:
    caller = project_and_key(suite, f"internal-{service}")
    rid = new_id(f"internal-{service}")
    answer = CALLS[service](suite, token, caller, rid)
    if service == "budget":
        assert answer.decision == budget_pb2.AuthorizeResponse.ALLOWED  # type: ignore[attr-defined]
        assert reservations(suite, rid) == 1
    elif service == "metering":
        assert (answer.cost.amount, answer.cost.currency) == ("21.00", "CNY")  # type: ignore[attr-defined]
        assert ledger_rows(suite, rid) == 1
    else:
        kinds = [event.WhichOneof("event") for event in answer]  # type: ignore[attr-defined]
        assert kinds[:2] == ["served", "response"]


@pytest.mark.parametrize("service", SERVICES)
def test_health_stays_open_without_the_credential(suite: Suite, service: str) -> None:
    assert check_health(addr(suite, service), timeout=5, credential=NO_TOKEN)


def test_tollgate_health_needs_no_token_and_makes_no_token_file(
    suite: Suite, tmp_path: Path
) -> None:
    env = {**suite.env, "TOLLGATE_HOME": str(tmp_path)}  # a folder with no token in it
    checked = subprocess.run(
        [sys.executable, "-m", "tollgate", "health", "budget"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0 and "SERVING" in checked.stdout, checked.stderr
    assert not (tmp_path / TOKEN_FILE).exists()


def test_the_suite_serves_a_chat_call_on_the_token_its_services_share(
    suite: Suite, token: InternalCredential
) -> None:
    project, secret = suite.project_with_key(new_id("e2e"))
    reply = httpx.post(
        f"{suite.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "demo", "messages": [{"role": "user", "content": "hello"}]},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with suite.engine.connect() as conn:
            query = select(func.count()).select_from(LedgerEntry)
            rows = conn.execute(query.where(LedgerEntry.project_id == project)).scalar_one()
        if rows:
            break
        time.sleep(0.1)
    assert rows == 1
    assert stat.S_IMODE((suite.home / TOKEN_FILE).stat().st_mode) == 0o600
    assert not list(suite.home.glob(f".{TOKEN_FILE}.*")), "a draft token file was left behind"
    for service in SERVICES:
        assert token.token not in suite.log(service, tail=None), f"{service} logged the token"


# --- where the token comes from ---------------------------------------------------------


def test_up_makes_the_token_file_before_it_starts_a_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / TOKEN_FILE
    seen: list[bool] = []
    monkeypatch.setattr(supervisor.Child, "start", lambda self: seen.append(path.exists()))
    monkeypatch.setattr(supervisor, "_wait_healthy", lambda *args: False)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous = current_credential()
    try:
        assert supervisor.run(load_settings({"TOLLGATE_HOME": str(tmp_path)})) == 1
    finally:
        use_credential(previous)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert seen and all(seen)  # one child a service, or a host of several each
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32


def test_services_started_at_once_agree_on_one_token(tmp_path: Path) -> None:
    script = (
        "from tollgate.config import load_settings; "
        "from tollgate.internal_token import internal_token; "
        "print(internal_token(load_settings()))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env["TOLLGATE_HOME"] = str(tmp_path / "fresh")
    processes = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    tokens = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    (agreed,) = tokens
    assert (tmp_path / "fresh" / TOKEN_FILE).read_text().strip() == agreed
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == [TOKEN_FILE]


def test_a_new_state_folder_made_for_the_token_is_private(tmp_path: Path) -> None:
    home = tmp_path / "srv" / "tollgate"
    old = os.umask(0o022)
    try:
        ensure_token_file(load_settings({"TOLLGATE_HOME": str(home)}))
    finally:
        os.umask(old)
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (home / TOKEN_FILE, home, home.parent)]
    assert modes == [0o600, 0o700, 0o700]


def test_the_environment_token_wins_and_makes_no_file(tmp_path: Path) -> None:
    secret = "an-operator-chosen-token-0123456789"
    settings = load_settings({"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_INTERNAL_TOKEN": secret})
    assert internal_token(settings) == secret
    assert not (tmp_path / TOKEN_FILE).exists()
    assert secret not in repr(settings)
    assert secret not in repr(InternalCredential(secret))


def test_a_short_token_is_refused_and_never_echoed(tmp_path: Path) -> None:
    short = "short-secret-15"
    with pytest.raises(ConfigError, match="at least 16") as refused:
        load_settings({"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_INTERNAL_TOKEN": short})
    assert short not in str(refused.value)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env.update({"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_INTERNAL_TOKEN": short})
    served = subprocess.run(
        [sys.executable, "-m", "tollgate", "serve", "budget"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 2, served.stderr
    assert "TOLLGATE_INTERNAL_TOKEN" in served.stderr and short not in served.stderr


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = load_settings({"TOLLGATE_HOME": str(tmp_path)})
    ensure_token_file(settings)
    (tmp_path / TOKEN_FILE).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as refused:
        ensure_token_file(settings)
    assert (tmp_path / TOKEN_FILE).read_text().strip() not in str(refused.value)


def test_a_server_refuses_to_start_without_a_credential() -> None:
    async def start() -> None:
        server = await start_aio_server("router", "127.0.0.1:0", [])
        await server.stop(None)  # it should not have started: leave nothing running

    previous = use_credential(NO_TOKEN)
    try:
        with pytest.raises(SystemExit, match="no internal credential"):
            asyncio.run(start())
    finally:
        use_credential(previous)
