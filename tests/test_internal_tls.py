"""Optional mutual TLS between the services (TOLLGATE_GRPC_TLS_CERT, _KEY, _CA), with
certificates made in the test: the whole suite serves a chat call over it; a caller
without a certificate from the CA is refused at the handshake, even with the token;
with a certificate but no token the call is still refused; health needs no token."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from sqlalchemy import func, select

from services.budget.admin import operations as admin
from tests.e2e.suite import SERVICES, Suite, start_suite, stop_suite
from tests.tlscerts import Issued, issue
from tollgate.config import ConfigError, GrpcTlsFiles, load_settings
from tollgate.db.models import LedgerEntry
from tollgate.grpc_metadata import MetadataChannel
from tollgate.grpcauth import TokenMetadata
from tollgate.grpctls import TlsMaterial
from tollgate.grpcutil import (
    CHANNEL_OPTIONS,
    InternalCredential,
    check_health,
    sync_channel,
    use_credential,
)
from tollgate.internal_token import TOKEN_FILE
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2

pytestmark = pytest.mark.e2e  # starts the suite as separate processes

REFUSED_AT_HANDSHAKE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def material(issued: Issued) -> TlsMaterial:
    return TlsMaterial.read(GrpcTlsFiles(issued.cert, issued.key, issued.ca))


@dataclass
class TlsSuite:
    suite: Suite
    tls: TlsMaterial  # a certificate the suite's CA signed
    rogue: TlsMaterial  # one from another CA, trusting the suite's CA
    token: str

    @property
    def budget(self) -> str:
        return self.suite.env["TOLLGATE_BUDGET_ADDR"]


@pytest.fixture(scope="module")
def tls_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSuite]:
    folder = tmp_path_factory.mktemp("grpc-tls")
    issued, other = issue(folder / "certs", "tollgate"), issue(folder / "rogue", "rogue")
    tls = material(issued)
    rogue = TlsMaterial(cert=material(other).cert, key=material(other).key, ca=tls.ca)
    # start_suite's health checks run in this process: they must speak TLS too.
    previous = use_credential(InternalCredential("", tls))
    try:
        home = folder / "home"
        suite = start_suite(home, f"sqlite:///{home / 'tollgate.db'}", extra_env=issued.env())
        try:
            token = (home / TOKEN_FILE).read_text().strip()
            yield TlsSuite(suite, tls, rogue, token)
        finally:
            stop_suite(suite)
    finally:
        use_credential(previous)


def authorize(channel: grpc.Channel, engine: object) -> budget_pb2.AuthorizeResponse:
    name = f"tls-{uuid.uuid4().hex}"
    project = admin.create_project(engine, name)  # type: ignore[arg-type]
    key = admin.create_key(engine, name).info.id  # type: ignore[arg-type]
    return budget_pb2_grpc.BudgetStub(channel).Authorize(
        budget_pb2.AuthorizeRequest(
            request_id=f"tls-{uuid.uuid4().hex}",
            caller=common_pb2.Caller(project_id=project.id, key_id=key),
            model="demo",
            prompt_tokens_estimate=10,
            max_completion_tokens=10,
        ),
        timeout=5,
    )


def test_the_suite_serves_a_chat_call_over_mutual_tls(tls_suite: TlsSuite) -> None:
    suite = tls_suite.suite
    project, secret = suite.project_with_key(f"tls-{uuid.uuid4().hex}")
    reply = httpx.post(
        f"{suite.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "demo", "messages": [{"role": "user", "content": "over TLS"}]},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    deadline, rows = time.monotonic() + 10, 0
    while not rows and time.monotonic() < deadline:
        with suite.engine.connect() as conn:
            query = select(func.count()).select_from(LedgerEntry)
            rows = conn.execute(query.where(LedgerEntry.project_id == project)).scalar_one()
        time.sleep(0.1)
    assert rows == 1


def test_certificate_and_token_together_open_a_service(tls_suite: TlsSuite) -> None:
    credential = InternalCredential(tls_suite.token, tls_suite.tls)
    with sync_channel(tls_suite.budget, credential) as channel:
        answer = authorize(channel, tls_suite.suite.engine)
    assert answer.decision == budget_pb2.AuthorizeResponse.ALLOWED


def test_a_certificate_without_the_token_is_refused(tls_suite: TlsSuite) -> None:
    with sync_channel(tls_suite.budget, InternalCredential("", tls_suite.tls)) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            authorize(channel, tls_suite.suite.engine)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _token_only(addr: str, token: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    if credentials is None:
        channel = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
    else:
        channel = grpc.secure_channel(addr, credentials, options=CHANNEL_OPTIONS)
    return MetadataChannel(channel, TokenMetadata(token))


@pytest.mark.parametrize("how", ["plain-text", "tls-without-certificate", "another-ca"])
def test_the_token_without_a_certificate_from_the_ca_is_refused(
    tls_suite: TlsSuite, how: str
) -> None:
    if how == "plain-text":
        channel = _token_only(tls_suite.budget, tls_suite.token, None)
    elif how == "tls-without-certificate":
        server_only = grpc.ssl_channel_credentials(root_certificates=tls_suite.tls.ca)
        channel = _token_only(tls_suite.budget, tls_suite.token, server_only)
    else:
        channel = sync_channel(
            tls_suite.budget, InternalCredential(tls_suite.token, tls_suite.rogue)
        )
    with channel, pytest.raises(grpc.RpcError) as refused:
        authorize(channel, tls_suite.suite.engine)
    assert refused.value.code() in REFUSED_AT_HANDSHAKE


@pytest.mark.parametrize("service", SERVICES)
def test_health_over_tls_needs_no_token(tls_suite: TlsSuite, service: str) -> None:
    addr = tls_suite.suite.env[f"TOLLGATE_{service.upper()}_ADDR"]
    assert check_health(addr, 5, InternalCredential("", tls_suite.tls))
    assert not check_health(addr, 2, InternalCredential(""))  # plain text: no handshake


def test_tls_needs_all_three_files(tmp_path: Path) -> None:
    issued = issue(tmp_path, "partial")
    env = {"TOLLGATE_HOME": str(tmp_path), **issued.env()}
    assert load_settings(env).grpc_tls == GrpcTlsFiles(issued.cert, issued.key, issued.ca)
    with pytest.raises(ConfigError, match="TOLLGATE_GRPC_TLS_CA"):
        load_settings({**env, "TOLLGATE_GRPC_TLS_CA": ""})
    with pytest.raises(ConfigError, match="not a readable file"):
        load_settings({**env, "TOLLGATE_GRPC_TLS_KEY": str(tmp_path / "missing.key")})
    assert "BEGIN" not in repr(material(issued))
