"""In-process calls (tollgate/inprocess.py): for a scripted servicer, a call through the
in-process channel ends as the same call over gRPC does (its messages, EOF, an abort's
code and details, an exception as UNKNOWN, a deadline), reaches the handler with the
caller's metadata and its request id bound, cancels a live handler and never an ended
one; and a call goes over gRPC when in-process calls are off or the service is not
hosted on the caller's loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import grpc
import pytest

from tests.e2e.suite import free_port
from tollgate import inprocess
from tollgate.grpc_metadata import AioMetadataChannel
from tollgate.grpcauth import TokenMetadata
from tollgate.grpcutil import InternalCredential, aio_channel, start_aio_server, use_credential
from tollgate.observability import logs
from tollgate.v1 import common_pb2, router_pb2, router_pb2_grpc

TOKEN = "the-internal-token-of-this-test-0123456789"
PROBE = (("x-tollgate-probe", "kept"),)


@dataclass
class Seen:
    peers: list[str] = field(default_factory=list)
    probes: list[list[str]] = field(default_factory=list)
    request_ids: list[str | None] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)


class Scripted(router_pb2_grpc.RouterServicer):
    """ChatCompletion does what the request's model says."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def ChatCompletion(  # noqa: N802
        self, request: router_pb2.ChatRequest, context: Any
    ) -> AsyncIterator[router_pb2.ChatEvent]:
        seen = self.seen
        seen.peers.append(context.peer())
        seen.probes.append([v for k, v in context.invocation_metadata() if k == "x-tollgate-probe"])
        seen.request_ids.append(logs.current_request_id())
        try:
            yield router_pb2.ChatEvent(served=router_pb2.Served(model=request.model))
            if request.model == "abort":
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
            if request.model == "boom":
                raise ValueError("it broke")
            if request.model == "slow":
                await asyncio.sleep(30)
            yield router_pb2.ChatEvent(response=b'{"ok": true}')
            yield router_pb2.ChatEvent(usage=common_pb2.Usage(prompt_tokens=3))
        except asyncio.CancelledError:
            seen.cancelled.append(request.request_id)
            raise
        seen.ended.append(request.request_id)

    async def ListModels(  # noqa: N802
        self, request: router_pb2.ListModelsRequest, context: Any
    ) -> router_pb2.ListModelsResponse:
        self.seen.peers.append(context.peer())
        return router_pb2.ListModelsResponse(models=[router_pb2.ModelInfo(id="demo")])

    async def Embed(  # noqa: N802
        self, request: router_pb2.EmbedRequest, context: Any
    ) -> router_pb2.EmbedResponse:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no input")
        raise AssertionError("abort returned")


@dataclass
class Hosted:
    seen: Seen
    in_process: router_pb2_grpc.RouterStub
    grpc: router_pb2_grpc.RouterStub


@asynccontextmanager
async def hosted(*, expected: bool = True) -> AsyncIterator[Hosted]:
    previous = use_credential(InternalCredential(TOKEN))
    addr = f"127.0.0.1:{free_port()}"
    if expected:
        inprocess.expect(addr, "router")
    seen = Seen()
    add = partial(router_pb2_grpc.add_RouterServicer_to_server, Scripted(seen))
    server = await start_aio_server("router", addr, [(add, "tollgate.v1.Router")])
    near = aio_channel(addr)
    far = AioMetadataChannel(grpc.aio.insecure_channel(addr), TokenMetadata(TOKEN))
    try:
        yield Hosted(seen, router_pb2_grpc.RouterStub(near), router_pb2_grpc.RouterStub(far))
    finally:
        await near.close()
        await far.close()
        await server.stop(0)
        inprocess.forget()
        use_credential(previous)


def chat(model: str, request_id: str) -> router_pb2.ChatRequest:
    return router_pb2.ChatRequest(model=model, request_id=request_id)


async def outcome(stub: router_pb2_grpc.RouterStub, model: str, **kw: Any) -> tuple[Any, ...]:
    """The messages a call gave, and how it ended (EOF, or an error's code and details)."""
    call = stub.ChatCompletion(chat(model, f"req_{model}"), metadata=PROBE, **kw)
    messages = []
    try:
        while (message := await call.read()) is not grpc.aio.EOF:
            messages.append(message)
        end: tuple[Any, ...] = ("EOF",)
    except grpc.aio.AioRpcError as exc:
        end = (exc.code(), exc.details())
    return (*messages, end)


def test_the_in_process_call_ends_as_the_grpc_call_does() -> None:
    async def both() -> None:
        async with hosted() as suite:
            for model in ("ok", "abort", "boom"):
                near = await outcome(suite.in_process, model)
                far = await outcome(suite.grpc, model)
                assert near == far, model
            assert near[-1] == (
                grpc.StatusCode.UNKNOWN,
                "Unexpected <class 'ValueError'>: it broke",
            )
            near = await outcome(suite.in_process, "slow", timeout=0.3)
            far = await outcome(suite.grpc, "slow", timeout=0.3)
            # the core's details vary with where the deadline caught the call
            assert near[:-1] == far[:-1] and near[-1][0] == far[-1][0]
            assert near[-1][0] == grpc.StatusCode.DEADLINE_EXCEEDED
            await asyncio.sleep(0.05)
            assert suite.seen.cancelled == ["req_slow", "req_slow"]  # the deadline reached both
            assert [p == "in-process" for p in suite.seen.peers] == [True, False] * 4
            assert suite.seen.probes == [["kept"]] * 8
            assert suite.seen.request_ids == [
                f"req_{m}" for m in ("ok", "abort", "boom", "slow") for _ in "12"
            ]
            # unary calls: a reply, an abort
            assert await suite.in_process.ListModels(router_pb2.ListModelsRequest()) == (
                await suite.grpc.ListModels(router_pb2.ListModelsRequest())
            )
            errors = []
            for stub in (suite.in_process, suite.grpc):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.Embed(router_pb2.EmbedRequest(request_id="req_e"), timeout=5)
                errors.append((info.value.code(), info.value.details()))
            assert errors == [(grpc.StatusCode.INVALID_ARGUMENT, "no input")] * 2
            assert suite.seen.peers[-2] == "in-process" != suite.seen.peers[-1]  # ListModels

    asyncio.run(both())


def test_cancelling_a_live_call_cancels_its_handler_and_an_ended_one_is_left_alone() -> None:
    async def both() -> None:
        async with hosted() as suite:
            for stub in (suite.in_process, suite.grpc):
                call = stub.ChatCompletion(chat("slow", "req_live"))
                assert (await call.read()).served.model == "slow"
                assert call.cancel() is True
                with pytest.raises(asyncio.CancelledError):
                    await call.read()
                assert await call.code() == grpc.StatusCode.CANCELLED
            for _ in range(100):
                if len(suite.seen.cancelled) == 2:
                    break
                await asyncio.sleep(0.01)
            assert suite.seen.cancelled == ["req_live", "req_live"]

            for stub in (suite.in_process, suite.grpc):
                call = stub.ChatCompletion(chat("ok", "req_ended"))
                assert len([m async for m in call]) == 3
                assert call.cancel() is False  # ended: nothing to cancel
                assert await call.code() == grpc.StatusCode.OK
            assert suite.seen.ended == ["req_ended", "req_ended"]
            assert suite.seen.cancelled == ["req_live", "req_live"]

            # The caller's task cancelled while it waits for a message cancels the call.
            call = suite.in_process.ChatCompletion(chat("slow", "req_gone"))
            await call.read()
            reader = asyncio.ensure_future(call.read())
            await asyncio.sleep(0.01)
            reader.cancel()
            await asyncio.sleep(0.01)
            assert call.cancelled() and suite.seen.cancelled[-1] == "req_gone"

    asyncio.run(both())


def test_a_service_not_hosted_here_is_called_over_grpc() -> None:
    async def far() -> None:
        async with hosted(expected=False) as suite:
            assert len(await outcome(suite.in_process, "ok")) == 4
            assert suite.seen.peers[0] != "in-process"

    asyncio.run(far())


def test_the_setting_turns_it_off() -> None:
    assert inprocess.enabled({})
    assert not inprocess.enabled({inprocess.ENV: "0"})
    assert inprocess.enabled({inprocess.ENV: "1"})
