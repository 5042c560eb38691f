"""Metering and Budget served in-process over real gRPC on one database, requiring an
internal token as the suite does (the shared `services` fixture is in tests/conftest.py),
and a helper that sends one usage record."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import grpc
from sqlalchemy import Engine

from services.budget.admin import operations as admin
from services.budget.prices import seed_prices
from services.budget.reservations import ReservationBook
from services.budget.server import BudgetServicer
from services.metering.ledger import UsageLedger
from services.metering.server import MeteringServicer
from tollgate.config import load_settings
from tollgate.db import make_engine
from tollgate.grpcauth import TokenServerInterceptor
from tollgate.grpcutil import InternalCredential, sync_channel
from tollgate.v1 import (
    budget_pb2_grpc,
    common_pb2,
    metering_pb2,
    metering_pb2_grpc,
)

TOKEN = "internal-token-of-the-in-process-services"


@dataclass
class Services:
    metering: metering_pb2_grpc.MeteringStub
    budget: budget_pb2_grpc.BudgetStub
    engine: Engine
    project: str
    key: str
    addr: str  # where both are served
    token: str = TOKEN  # the internal credential they require

    def client_env(self) -> dict[str, str]:
        """What a client (the CLI) needs to find and call them."""
        return {
            "TOLLGATE_METERING_ADDR": self.addr,
            "TOLLGATE_BUDGET_ADDR": self.addr,
            "TOLLGATE_INTERNAL_TOKEN": self.token,
            "TOLLGATE_DATABASE_URL": self.engine.url.render_as_string(hide_password=False),
        }


@contextmanager
def serving(db_url: str) -> Iterator[Services]:
    """Budget and Metering on `db_url`, with a project `acme` and one key of it."""
    engine = make_engine(db_url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "acme")
    key = admin.create_key(engine, "acme").info.id
    server = grpc.server(
        futures.ThreadPoolExecutor(8), interceptors=[TokenServerInterceptor(TOKEN)]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    channel = sync_channel(f"127.0.0.1:{port}", InternalCredential(TOKEN))
    budget_pb2_grpc.add_BudgetServicer_to_server(
        BudgetServicer(ReservationBook(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=60)), server
    )
    metering_pb2_grpc.add_MeteringServicer_to_server(
        MeteringServicer(UsageLedger(engine), budget_pb2_grpc.BudgetStub(channel)), server
    )
    server.start()
    try:
        yield Services(
            metering_pb2_grpc.MeteringStub(channel),
            budget_pb2_grpc.BudgetStub(channel),
            engine,
            project.id,
            key,
            f"127.0.0.1:{port}",
        )
    finally:
        channel.close()
        server.stop(None)
        engine.dispose()


def usage_record(
    s: Services, request_id: str, prompt: int, completion: int, **kw: Any
) -> metering_pb2.UsageRecord:
    fields = {
        "request_id": request_id,
        "caller": common_pb2.Caller(project_id=s.project, key_id=s.key, end_user="alice"),
        "model_requested": "demo",
        "model_served": "demo",
        "provider": "demo",
        "usage": common_pb2.Usage(prompt_tokens=prompt, completion_tokens=completion),
        "usage_source": common_pb2.USAGE_SOURCE_PROVIDER,
        "status": metering_pb2.CALL_STATUS_OK,
        "http_status": 200,
        **kw,
    }
    return metering_pb2.UsageRecord(**fields)


def record(
    s: Services, request_id: str, prompt: int, completion: int, **kw: Any
) -> metering_pb2.RecordUsageResponse:
    reply: metering_pb2.RecordUsageResponse = s.metering.RecordUsage(
        usage_record(s, request_id, prompt, completion, **kw)
    )
    return reply
