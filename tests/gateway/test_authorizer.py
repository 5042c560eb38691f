"""The gateway's Authorize calls (services/gateway/authorizer.py): alone at low load,
in AuthorizeBatch requests while others are on their way, each caller answered with
its own outcome; against a stand-in Budget and against the real service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from services.budget.admin import operations as admin
from services.budget.prices import seed_prices
from services.budget.reservations import ReservationBook
from services.budget.server import BudgetServicer
from services.gateway.authorizer import AuthorizeFailed, Authorizer
from tests.budget.price_world import RATE
from tests.e2e.suite import free_port
from tollgate.config import load_settings
from tollgate.db import make_engine
from tollgate.grpcutil import aio_channel
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2

ALLOWED = budget_pb2.AuthorizeResponse.ALLOWED


def request(rid: str, project: str = "p", key: str = "k") -> budget_pb2.AuthorizeRequest:
    return budget_pb2.AuthorizeRequest(
        request_id=rid,
        caller=common_pb2.Caller(project_id=project, key_id=key),
        model="demo",
        prompt_tokens_estimate=1000,
        max_completion_tokens=1000,
    )


class _RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="stand-in")


class StandIn:
    """A Budget that answers once `release` is set: ALLOWED with the request id as the
    message, or the status named for a request id in `fail`."""

    def __init__(self, *, batches: bool = True) -> None:
        self.release = asyncio.Event()
        self.singles: list[str] = []
        self.batches: list[list[str]] = []
        self.fail: dict[str, grpc.StatusCode] = {}
        self.fail_batch: grpc.StatusCode | None = None
        if not batches:
            self.AuthorizeBatch = self._unimplemented  # type: ignore[method-assign]

    def _answer(self, rid: str) -> budget_pb2.AuthorizeResponse:
        return budget_pb2.AuthorizeResponse(decision=ALLOWED, message=rid)

    async def Authorize(self, req: budget_pb2.AuthorizeRequest, **_: Any) -> Any:
        self.singles.append(req.request_id)
        await self.release.wait()
        if req.request_id in self.fail:
            raise _RpcError(self.fail[req.request_id])
        return self._answer(req.request_id)

    async def AuthorizeBatch(self, batch: budget_pb2.AuthorizeBatchRequest, **_: Any) -> Any:
        ids = [c.request_id for c in batch.calls]
        self.batches.append(ids)
        await self.release.wait()
        if self.fail_batch is not None:
            raise _RpcError(self.fail_batch)
        outcomes = []
        for rid in ids:
            if rid in self.fail:
                code = self.fail[rid].value[0]
                outcomes.append(budget_pb2.AuthorizeOutcome(code=code, error=f"{rid} failed"))
            else:
                outcomes.append(budget_pb2.AuthorizeOutcome(response=self._answer(rid)))
        return budget_pb2.AuthorizeBatchResponse(outcomes=outcomes)

    async def _unimplemented(self, batch: Any, **_: Any) -> Any:
        self.batches.append([c.request_id for c in batch.calls])
        raise _RpcError(grpc.StatusCode.UNIMPLEMENTED)


async def _run(authorizer: Authorizer, stand_in: StandIn, ids: list[str]) -> list[Any]:
    calls = [asyncio.ensure_future(authorizer.authorize(request(rid))) for rid in ids]
    await asyncio.sleep(0.01)  # every call has asked or is waiting
    stand_in.release.set()
    return list(await asyncio.gather(*calls, return_exceptions=True))


def test_a_lone_call_asks_alone() -> None:
    async def main() -> None:
        stand_in = StandIn()
        authorizer = Authorizer(stand_in, 5.0)  # type: ignore[arg-type]
        stand_in.release.set()
        for rid in ("a", "b", "c"):
            assert (await authorizer.authorize(request(rid))).message == rid
        assert (stand_in.singles, stand_in.batches) == (["a", "b", "c"], [])

    asyncio.run(main())


def test_calls_arriving_while_two_are_out_go_in_one_batch_and_get_their_own_answers() -> None:
    async def main() -> None:
        stand_in = StandIn()
        authorizer = Authorizer(stand_in, 5.0)  # type: ignore[arg-type]
        ids = [f"r{i}" for i in range(10)]
        answers = await _run(authorizer, stand_in, ids)
        assert [a.message for a in answers] == ids
        assert stand_in.singles == ["r0", "r1"]
        # Both singles came back; the eight waiting went in one batch.
        assert stand_in.batches == [ids[2:]]
        assert authorizer.batches_sent == 1

    asyncio.run(main())


def test_batches_are_capped() -> None:
    async def main() -> None:
        stand_in = StandIn()
        authorizer = Authorizer(stand_in, 5.0, max_batch=3)  # type: ignore[arg-type]
        ids = [f"r{i}" for i in range(10)]
        answers = await _run(authorizer, stand_in, ids)
        assert [a.message for a in answers] == ids
        assert [len(b) for b in stand_in.batches] == [3, 3, 2]

    asyncio.run(main())


def test_a_call_that_fails_in_a_batch_fails_alone() -> None:
    async def main() -> None:
        stand_in = StandIn()
        stand_in.fail["r4"] = grpc.StatusCode.FAILED_PRECONDITION
        authorizer = Authorizer(stand_in, 5.0)  # type: ignore[arg-type]
        answers = await _run(authorizer, stand_in, [f"r{i}" for i in range(6)])
        failed = answers[4]
        assert isinstance(failed, AuthorizeFailed)
        assert failed.code is grpc.StatusCode.FAILED_PRECONDITION
        assert [a.message for i, a in enumerate(answers) if i != 4] == [
            "r0",
            "r1",
            "r2",
            "r3",
            "r5",
        ]

    asyncio.run(main())


def test_a_batch_that_fails_fails_each_of_its_calls() -> None:
    async def main() -> None:
        stand_in = StandIn()
        stand_in.fail_batch = grpc.StatusCode.UNAVAILABLE
        authorizer = Authorizer(stand_in, 5.0)  # type: ignore[arg-type]
        answers = await _run(authorizer, stand_in, [f"r{i}" for i in range(5)])
        assert [a.message for a in answers[:2]] == ["r0", "r1"]
        assert all(
            isinstance(a, AuthorizeFailed) and a.code is grpc.StatusCode.UNAVAILABLE
            for a in answers[2:]
        )

    asyncio.run(main())


def test_a_budget_without_batches_is_asked_one_call_at_a_time() -> None:
    async def main() -> None:
        stand_in = StandIn(batches=False)
        authorizer = Authorizer(stand_in, 5.0)  # type: ignore[arg-type]
        ids = [f"r{i}" for i in range(6)]
        answers = await _run(authorizer, stand_in, ids)
        assert [a.message for a in answers] == ids
        assert stand_in.batches == [ids[2:]]  # asked once, then never again
        assert sorted(stand_in.singles) == ids
        stand_in.release = asyncio.Event()
        again = await _run(authorizer, stand_in, [f"s{i}" for i in range(6)])
        assert [a.message for a in again] == [f"s{i}" for i in range(6)]
        assert len(stand_in.batches) == 1

    asyncio.run(main())


def test_a_caller_that_gave_up_is_not_asked_for() -> None:
    async def main() -> None:
        stand_in = StandIn()
        authorizer = Authorizer(stand_in, 5.0)  # type: ignore[arg-type]
        calls = [asyncio.ensure_future(authorizer.authorize(request(f"r{i}"))) for i in range(5)]
        await asyncio.sleep(0.01)
        calls[3].cancel()
        stand_in.release.set()
        await asyncio.gather(*calls, return_exceptions=True)
        assert stand_in.batches == [["r2", "r4"]]

    asyncio.run(main())


@pytest.fixture
def budget_server(db_url: str) -> Iterator[tuple[str, str, str]]:
    """The Budget service on a free port over `db_url`, with a project whose hard
    budget fits 40 calls of CNY 0.126; (address, project id, key id)."""
    engine = make_engine(db_url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "acme", currency="CNY", monthly_budget="5.1").id
    key = admin.create_key(engine, "acme").info.id
    ledger = ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=600)
    server = grpc.server(ThreadPoolExecutor(max_workers=8))
    budget_pb2_grpc.add_BudgetServicer_to_server(BudgetServicer(ledger), server)
    addr = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(addr)
    server.start()
    try:
        yield addr, project, key
    finally:
        server.stop(None)
        engine.dispose()


def test_many_concurrent_calls_against_the_real_budget_hold_the_hard_limit(
    budget_server: tuple[str, str, str],
) -> None:
    addr, project, key = budget_server

    async def main() -> tuple[list[Any], int]:
        channel = aio_channel(addr)
        authorizer = Authorizer(budget_pb2_grpc.BudgetStub(channel), 30.0)
        try:
            answers = await asyncio.gather(
                *(authorizer.authorize(request(f"r{i}", project, key)) for i in range(200))
            )
        finally:
            await channel.close()
        return list(answers), authorizer.batches_sent

    answers, batches = asyncio.run(main())
    allowed = [a for a in answers if a.decision == ALLOWED]
    refused = [a for a in answers if a.decision == budget_pb2.AuthorizeResponse.BUDGET_EXCEEDED]
    assert (len(allowed), len(refused)) == (40, 160)
    assert all(a.reserved.amount == "0.126" for a in allowed)
    assert batches >= 1
