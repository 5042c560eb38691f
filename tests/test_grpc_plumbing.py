"""The internal calls' plumbing (tollgate/grpcutil.py, grpc_metadata.py, grpcauth.py,
observability/grpc_scope.py): a channel presents the credential beside whatever
metadata its caller sends, on sync and aio channels and every call shape; a server
refuses a call without the right credential before its handler runs, and runs an
admitted one with its request id bound for the logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from tests.e2e.suite import free_port
from tollgate.grpcauth import AioTokenServerInterceptor, TokenServerInterceptor
from tollgate.grpcutil import InternalCredential, aio_channel, sync_channel
from tollgate.observability import logs
from tollgate.observability.grpc_scope import MAX_KEPT, AioScoped, Scoped
from tollgate.v1 import metering_pb2

TOKEN = "the-internal-token-of-this-test-0123456789"
SERVICE = "tests.Plumbing"
Request, Response = metering_pb2.UsageRecord, metering_pb2.RecordUsageResponse
Anonymous = metering_pb2.DeadLettersRequest  # a request without a request_id


class Seen:
    """What the handlers saw: each call's metadata and the request id bound for it."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, list[str]]] = []
        self.request_ids: list[str | None] = []

    def note(self, context: Any) -> None:
        found: dict[str, list[str]] = {}
        for key, value in context.invocation_metadata():
            found.setdefault(key, []).append(value)
        self.metadata.append(found)
        self.request_ids.append(logs.current_request_id())


def _handlers(seen: Seen, aio: bool) -> grpc.GenericRpcHandler:
    def unary(request: Any, context: Any) -> Any:
        seen.note(context)
        return Response()

    def stream(request: Any, context: Any) -> Iterator[Any]:
        seen.note(context)
        yield Response()
        yield Response()

    async def aio_unary(request: Any, context: Any) -> Any:
        return unary(request, context)

    async def aio_stream(request: Any, context: Any) -> AsyncIterator[Any]:
        for item in stream(request, context):
            yield item

    def shape(kind: Any, behavior: Any, request: Any = Request) -> grpc.RpcMethodHandler:
        return kind(  # type: ignore[no-any-return]
            behavior,
            request_deserializer=request.FromString,
            response_serializer=Response.SerializeToString,
        )

    one = grpc.unary_unary_rpc_method_handler
    many = grpc.unary_stream_rpc_method_handler
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "One": shape(one, aio_unary if aio else unary),
            "Many": shape(many, aio_stream if aio else stream),
            "Anonymous": shape(one, aio_unary if aio else unary, Anonymous),
        },
    )


def _calls(channel: Any) -> tuple[Any, Any, Any]:
    def shape(kind: Any, method: str, request: Any = Request) -> Any:
        return kind(
            f"/{SERVICE}/{method}",
            request_serializer=request.SerializeToString,
            response_deserializer=Response.FromString,
        )

    return (
        shape(channel.unary_unary, "One"),
        shape(channel.unary_stream, "Many"),
        shape(channel.unary_unary, "Anonymous", Anonymous),
    )


@pytest.fixture
def sync_server() -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        interceptors=[TokenServerInterceptor(TOKEN, then=Scoped())],
    )
    server.add_generic_rpc_handlers((_handlers(seen, aio=False),))
    addr = f"127.0.0.1:{server.add_insecure_port(f'127.0.0.1:{free_port()}')}"
    server.start()
    yield addr, seen
    server.stop(0)


CALLERS_OWN = (("x-tollgate-probe", "kept"), ("authorization", "Bearer forged"))
BEARER = f"Bearer {TOKEN}"


def test_a_sync_call_carries_its_callers_metadata_and_the_credential(
    sync_server: tuple[str, Seen],
) -> None:
    addr, seen = sync_server
    with sync_channel(addr, InternalCredential(TOKEN)) as channel:
        one, many, _ = _calls(channel)
        one(Request(request_id="req_1"), timeout=5, metadata=CALLERS_OWN)
        one.with_call(Request(request_id="req_2"), timeout=5, metadata=list(CALLERS_OWN))
        one.future(Request(request_id="req_3"), timeout=5).result()
        assert len(list(many(Request(request_id="req_4"), timeout=5, metadata=CALLERS_OWN))) == 2
    assert [m["authorization"] for m in seen.metadata] == [[BEARER]] * 4  # the forged one gone
    assert [m.get("x-tollgate-probe") for m in seen.metadata] == [
        ["kept"],
        ["kept"],
        None,
        ["kept"],
    ]
    assert seen.request_ids == ["req_1", "req_2", "req_3", "req_4"]


def test_an_aio_call_carries_its_callers_metadata_and_the_credential(
    sync_server: tuple[str, Seen],
) -> None:
    addr, seen = sync_server

    async def calls() -> None:
        async with aio_channel(addr, InternalCredential(TOKEN)) as channel:
            one, many, _ = _calls(channel)
            await one(Request(request_id="req_a"), timeout=5, metadata=CALLERS_OWN)
            await one(Request(request_id="req_b"), timeout=5)
            answers = [a async for a in many(Request(request_id="req_c"), metadata=CALLERS_OWN)]
            assert len(answers) == 2

    asyncio.run(calls())
    assert [m["authorization"] for m in seen.metadata] == [[BEARER]] * 3
    assert [m.get("x-tollgate-probe") for m in seen.metadata] == [["kept"], None, ["kept"]]
    assert seen.request_ids == ["req_a", "req_b", "req_c"]


@pytest.mark.parametrize("token", ["", "a-wrong-token-of-the-same-length-0123456789"])
def test_a_sync_server_refuses_a_call_without_the_credential(
    sync_server: tuple[str, Seen], token: str
) -> None:
    addr, seen = sync_server
    with sync_channel(addr, InternalCredential(token)) as channel:
        one, many, anonymous = _calls(channel)
        calls = (
            lambda: one(Request(request_id="r"), timeout=5),
            lambda: list(many(Request(request_id="r"), timeout=5)),
            lambda: anonymous(Anonymous(), timeout=5),
        )
        for call in calls:
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert seen.metadata == []  # no handler ran


def test_a_request_without_an_id_binds_none(sync_server: tuple[str, Seen]) -> None:
    addr, seen = sync_server
    with sync_channel(addr, InternalCredential(TOKEN)) as channel:
        _calls(channel)[2](Anonymous(), timeout=5)
    assert seen.request_ids == [None]


def test_an_aio_server_admits_only_the_credential_and_binds_the_request_id() -> None:
    asyncio.run(_aio_server())


async def _aio_server() -> None:
    seen = Seen()
    server = grpc.aio.server(interceptors=[AioTokenServerInterceptor(TOKEN, then=AioScoped())])
    server.add_generic_rpc_handlers((_handlers(seen, aio=True),))
    addr = f"127.0.0.1:{server.add_insecure_port(f'127.0.0.1:{free_port()}')}"
    await server.start()
    try:
        for token in ("", "wrong"):
            async with aio_channel(addr, InternalCredential(token)) as channel:
                one, many, _ = _calls(channel)
                with pytest.raises(grpc.aio.AioRpcError) as unary:
                    await one(Request(request_id="r"))
                with pytest.raises(grpc.aio.AioRpcError) as streamed:
                    _ = [a async for a in many(Request(request_id="r"))]
                assert unary.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert streamed.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert seen.metadata == []
        async with aio_channel(addr, InternalCredential(TOKEN)) as channel:
            one, many, anonymous = _calls(channel)
            await one(Request(request_id="req_x"), metadata=CALLERS_OWN)
            assert len([a async for a in many(Request(request_id="req_y"))]) == 2
            await anonymous(Anonymous())
    finally:
        await server.stop(0)
    assert seen.request_ids == ["req_x", "req_y", None]
    assert seen.metadata[0]["x-tollgate-probe"] == ["kept"]
    assert logs.current_request_id() is None  # nothing leaks past the calls


def test_a_handler_made_anew_for_each_call_is_wrapped_anew_and_not_kept_forever() -> None:
    scoped = Scoped()
    for _ in range(MAX_KEPT + 10):
        handler = grpc.unary_unary_rpc_method_handler(lambda request, context: None)
        wrapped = scoped(handler)
        assert wrapped is not None and wrapped.unary_unary is not handler.unary_unary
        assert scoped(handler) is wrapped  # the same handler again: the same wrapper
    assert len(scoped._done) <= MAX_KEPT
