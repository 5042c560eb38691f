"""Fixtures of the metering tests."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import grpc
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.metering.services import Services

ADMIN_TOKEN = "admin-token-for-reports"


@pytest.fixture
def priced(services: Services) -> Services:
    """`services` with test models priced per million tokens: `big` (CNY 10 in, 30 out,
    1 cached), `small` (CNY 1.5, 6, 0.15) and `usd` (USD 10, 30, 1), in force an hour
    before now (the savings and what-if tests)."""
    from datetime import timedelta

    from services.budget.prices import PriceInput, set_price
    from tollgate.db import utcnow

    before = utcnow() - timedelta(hours=1)
    with services.engine.begin() as conn:
        for price in (
            PriceInput("big", "10", "30", "1", "CNY"),
            PriceInput("small", "1.5", "6", "0.15", "CNY"),
            PriceInput("usd", "10", "30", "1", "USD"),
        ):
            set_price(conn, price, effective_from=before)
    return services


@pytest.fixture
def admin_http(services: Services) -> Iterator[TestClient]:
    """The admin API's routes over `services`' Metering, as the gateway serves them (an
    aio stub made in the test client's event loop, as the gateway makes its own)."""
    from services.gateway.admin import admin_routes
    from tollgate.grpcutil import InternalCredential, aio_channel
    from tollgate.v1 import metering_pb2_grpc

    async def dial() -> grpc.aio.Channel:
        return aio_channel(services.addr, InternalCredential(services.token))

    app = Starlette()
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
        channel = http.portal.call(dial)
        stub = metering_pb2_grpc.MeteringStub(channel)
        app.router.routes.extend(admin_routes(services.engine, ADMIN_TOKEN, metering=stub))
        yield http
        http.portal.call(channel.close)


@pytest.fixture
def operator(priced: Services, cli, admin_http):  # type: ignore[no-untyped-def]
    """The CLI and the admin API over `priced`: `operator.cli(*argv)` gives (exit code,
    stdout, stderr); `operator.http` is an admin client (the savings and what-if tests)."""
    return SimpleNamespace(cli=cli, http=admin_http)
