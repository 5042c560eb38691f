"""In-process calls between blocking services (tollgate/inprocess_blocking.py): for a
scripted servicer behind `run_sync_server`, a call through `sync_channel` ends as the
same call over gRPC does (the answer, an abort's code, details and trailing metadata,
an exception as UNKNOWN), runs in the caller's thread with the caller's metadata and
its request id bound, shares no object with the caller, and goes over gRPC when the
service is not hosted here or has stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import grpc
import pytest

from tests.e2e.suite import free_port
from tollgate import inprocess, inprocess_blocking
from tollgate.grpcutil import InternalCredential, run_sync_server, sync_channel, use_credential
from tollgate.observability import logs
from tollgate.v1 import budget_pb2, budget_pb2_grpc

TOKEN = "the-internal-token-of-this-test-0123456789"


@dataclass
class Seen:
    threads: list[int] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    request_ids: list[str | None] = field(default_factory=list)
    probes: list[list[str]] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)


class Scripted(budget_pb2_grpc.BudgetServicer):
    """Release does what the request id says."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def Release(self, request: budget_pb2.ReleaseRequest, context: Any) -> Any:  # noqa: N802
        seen = self.seen
        seen.threads.append(threading.get_ident())
        seen.peers.append(context.peer())
        seen.request_ids.append(logs.current_request_id())
        seen.probes.append([v for k, v in context.invocation_metadata() if k == "x-probe"])
        seen.requests.append(request)
        if request.request_id == "abort":
            context.set_trailing_metadata((("field", "request_id"),))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no such request")
        if request.request_id == "boom":
            raise ValueError("it broke")
        return budget_pb2.ReleaseResponse(released=True)


@pytest.fixture
def hosted() -> Iterator[tuple[str, Seen, threading.Event, threading.Thread]]:
    """The scripted Budget served by run_sync_server from a thread, expected here."""
    use_credential(InternalCredential(TOKEN))
    addr = f"127.0.0.1:{free_port()}"
    inprocess.expect(addr, "budget")
    seen = Seen()
    stop = threading.Event()
    adders = [(partial(budget_pb2_grpc.add_BudgetServicer_to_server, Scripted(seen)), "b")]
    thread = threading.Thread(
        target=run_sync_server, args=("budget", addr, adders), kwargs={"stop": stop}
    )
    thread.start()
    try:
        grpc.channel_ready_future(grpc.insecure_channel(addr)).result(timeout=10)
        yield addr, seen, stop, thread
    finally:
        stop.set()
        thread.join(timeout=15)
        inprocess.forget()
        inprocess_blocking.forget()


def test_the_in_process_call_ends_as_the_grpc_call_does(
    hosted: tuple[str, Seen, threading.Event, threading.Thread],
) -> None:
    addr, seen, _, _ = hosted
    stub = budget_pb2_grpc.BudgetStub(sync_channel(addr))
    request = budget_pb2.ReleaseRequest(request_id="r-1")
    answer = stub.Release(request, metadata=(("x-probe", "kept"),), timeout=5)
    assert answer.released
    assert seen.threads == [threading.get_ident()]  # in this thread, not the server's
    assert seen.peers == ["in-process"]
    assert seen.request_ids == ["r-1"] and seen.probes == [["kept"]]
    assert seen.requests[0] == request and seen.requests[0] is not request

    with pytest.raises(grpc.RpcError) as aborted:
        stub.Release(budget_pb2.ReleaseRequest(request_id="abort"))
    assert aborted.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert aborted.value.details() == "no such request"
    assert tuple(aborted.value.trailing_metadata()) == (("field", "request_id"),)  # type: ignore[attr-defined]

    with pytest.raises(grpc.RpcError) as broke:
        stub.Release(budget_pb2.ReleaseRequest(request_id="boom"))
    assert broke.value.code() is grpc.StatusCode.UNKNOWN
    assert "it broke" in (broke.value.details() or "")
    assert len(set(seen.threads)) == 1


def test_over_grpc_the_same_call_ends_the_same_way(
    hosted: tuple[str, Seen, threading.Event, threading.Thread],
) -> None:
    addr, seen, _, _ = hosted
    inprocess_blocking.unregister("budget")  # as when the service has not started yet
    stub = budget_pb2_grpc.BudgetStub(sync_channel(addr))
    assert stub.Release(budget_pb2.ReleaseRequest(request_id="r-2"), timeout=5).released
    assert seen.threads != [threading.get_ident()] and seen.peers[0] != "in-process"
    with pytest.raises(grpc.RpcError) as aborted:
        stub.Release(budget_pb2.ReleaseRequest(request_id="abort"), timeout=5)
    assert aborted.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert aborted.value.details() == "no such request"


def test_a_service_not_hosted_here_is_called_over_grpc(
    hosted: tuple[str, Seen, threading.Event, threading.Thread],
) -> None:
    addr, seen, _, _ = hosted
    inprocess.forget()  # this process no longer says it hosts Budget at `addr`
    stub = budget_pb2_grpc.BudgetStub(sync_channel(addr))
    assert stub.Release(budget_pb2.ReleaseRequest(request_id="r-3"), timeout=5).released
    assert seen.peers[0] != "in-process"


def test_a_stopped_service_is_called_over_grpc(
    hosted: tuple[str, Seen, threading.Event, threading.Thread],
) -> None:
    addr, seen, stop, thread = hosted
    stub = budget_pb2_grpc.BudgetStub(sync_channel(addr))
    stop.set()
    thread.join(timeout=15)  # the server has stopped, and its handlers are gone
    assert not thread.is_alive() and "budget" not in inprocess_blocking._handlers
    with pytest.raises(grpc.RpcError) as gone:
        stub.Release(budget_pb2.ReleaseRequest(request_id="r-4"), timeout=2)
    assert gone.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
