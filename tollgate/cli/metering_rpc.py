"""The CLI's line to Metering: a channel to TOLLGATE_METERING_ADDR with the suite's
internal credential (never made here), and Metering's refusals as the CLI shows them,
as for Budget (rpc.py): a refused input is a ValueError (one line, exit status 2); a
Metering that does not answer, or refuses the credential, is one line naming its
address and exit status 1. With `--url` (remote.py), the remote gateway's admin API
answers in Metering's stead."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar, cast

import grpc

from tollgate.cli import remote, remote_metering
from tollgate.cli.rpc import failure
from tollgate.config import Settings
from tollgate.grpcutil import credential_of, sync_channel
from tollgate.v1 import metering_pb2_grpc

T = TypeVar("T")
TIMEOUT_SECONDS = 30.0  # a unary call's deadline; an export's stream has none


class Metering:
    """A Metering stub and what to say when a call to it fails."""

    def __init__(self, stub: metering_pb2_grpc.MeteringStub, addr: str) -> None:
        self.stub = stub
        self.addr = addr
        self.timeout = TIMEOUT_SECONDS

    def call(self, rpc: Callable[[], T]) -> T:
        """`rpc()`, its refusals turned into what the CLI prints."""
        try:
            return rpc()
        except grpc.RpcError as error:
            raise self.failure(error) from None

    def failure(self, error: grpc.RpcError) -> Exception:
        return failure("metering", self.addr, error)


@contextmanager
def metering(settings: Settings) -> Iterator[Metering]:
    """Metering at TOLLGATE_METERING_ADDR, with the suite's credential; with `--url`,
    the remote gateway's admin API."""
    target = remote.current()
    if target is not None:
        yield Metering(
            cast(metering_pb2_grpc.MeteringStub, remote_metering.RemoteMetering(target)), target.url
        )
        return
    addr = settings.addrs["metering"]
    channel = sync_channel(addr, credential_of(settings, create_token=False))
    try:
        yield Metering(metering_pb2_grpc.MeteringStub(channel), addr)
    finally:
        channel.close()
