"""The healthchecks docker-compose.yml gives each service work: run as the container
would run them, they pass while a service serves and fail once it stops."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.composefile import GRPC_ONLY, ROOT, healthcheck_argv
from tests.tlscerts import issue
from tollgate.config import GrpcTlsFiles
from tollgate.grpctls import TlsMaterial


def _run(argv: list[str], arg: str, env: dict[str, str] | None = None) -> int:
    command = [sys.executable, "-c", argv[2], arg]
    return subprocess.run(command, capture_output=True, timeout=30, env=env).returncode


@pytest.fixture
def health_server() -> Iterator[tuple[grpc.Server, health.HealthServicer, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield server, servicer, port
    server.stop(None)


@pytest.mark.parametrize("name", GRPC_ONLY)
def test_grpc_healthcheck_passes_only_while_serving(
    name: str, health_server: tuple[grpc.Server, health.HealthServicer, int]
) -> None:
    server, servicer, port = health_server
    argv, addr = healthcheck_argv(name), f"127.0.0.1:{port}"
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert _run(argv, addr) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert _run(argv, addr) != 0
    server.stop(None).wait()
    assert _run(argv, addr) != 0


def test_grpc_healthcheck_speaks_mutual_tls_when_it_is_configured(tmp_path: Path) -> None:
    issued = issue(tmp_path, "health")
    tls = TlsMaterial.read(GrpcTlsFiles(issued.cert, issued.key, issued.ca))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", tls.server_credentials())
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
        env["TOLLGATE_HOME"] = str(tmp_path)  # no token there: the probe needs none
        argv, addr = healthcheck_argv("budget"), f"127.0.0.1:{port}"
        assert _run(argv, addr, {**env, **issued.env()}) == 0
        assert _run(argv, addr, env) != 0  # plain text gets no answer from a TLS port
    finally:
        server.stop(None)


def test_gateway_healthcheck_passes_only_on_http_ok() -> None:
    argv = healthcheck_argv("gateway")
    status = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status["code"] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = urlsplit(argv[3])._replace(netloc=f"127.0.0.1:{server.server_port}").geturl()
        assert _run(argv, url) == 0
        status["code"] = 503
        assert _run(argv, url) != 0
    finally:
        server.shutdown()
        server.server_close()


def test_the_gateway_serves_the_path_its_healthcheck_asks_for() -> None:
    sources = [p.read_text() for p in (ROOT / "services" / "gateway").glob("**/*.py")]
    if not sources:
        pytest.skip("services/gateway has no code yet")
    path = urlsplit(healthcheck_argv("gateway")[3]).path
    assert any(f'"{path}"' in text or f"'{path}'" in text for text in sources), path
