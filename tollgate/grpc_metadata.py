"""Channels that add entries to every call's metadata: one mechanism for everything a
service sends beside its requests (the internal credential in grpcauth.py, the trace
context in observability/grpc_scope.py).

`MetadataChannel(channel, add)` wraps a sync channel, `AioMetadataChannel(channel, add)`
an aio one. Generated stubs only ask a channel for multicallables
(`channel.unary_unary(method, request_serializer=..., response_deserializer=...)` and
the three other shapes), so the wrappers hand out multicallables that pass each call's
metadata through `add` and call the channel's own. `add` takes the call's metadata
(None when it has none) and returns what the call carries.

Not client interceptors: in grpc aio an intercepted call runs an extra task and a
wrapper call object per call, and a sync intercepted call a chain of continuations;
this costs one function call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

Metadata = Sequence[tuple[str, str | bytes]]
AddMetadata = Callable[[Metadata | None], Metadata | None]


def chain(*adds: AddMetadata) -> AddMetadata:
    """One `add` that applies `adds` in turn (the first sees the caller's metadata)."""
    if len(adds) == 1:
        return adds[0]

    def add(metadata: Metadata | None) -> Metadata | None:
        for each in adds:
            metadata = each(metadata)
        return metadata

    return add


class _Call:
    """A multicallable whose calls carry `add(metadata)`; what else the multicallable
    offers (sync `with_call` and `future`) does too."""

    __slots__ = ("_add", "_inner")

    def __init__(self, inner: Any, add: AddMetadata) -> None:
        self._inner = inner
        self._add = add

    def __call__(
        self, request: Any, timeout: float | None = None, metadata: Any = None, **kw: Any
    ) -> Any:
        return self._inner(request, timeout=timeout, metadata=self._add(metadata), **kw)

    def with_call(
        self, request: Any, timeout: float | None = None, metadata: Any = None, **kw: Any
    ) -> Any:
        return self._inner.with_call(request, timeout=timeout, metadata=self._add(metadata), **kw)

    def future(
        self, request: Any, timeout: float | None = None, metadata: Any = None, **kw: Any
    ) -> Any:
        return self._inner.future(request, timeout=timeout, metadata=self._add(metadata), **kw)


class _Multicallables:
    """The four multicallable factories of a channel wrapper, sync or aio alike: each
    wraps the inner channel's own in a `_Call` that adds the metadata."""

    _channel: Any
    _add: AddMetadata

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Call(self._channel.unary_unary(method, *args, **kwargs), self._add)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Call(self._channel.unary_stream(method, *args, **kwargs), self._add)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Call(self._channel.stream_unary(method, *args, **kwargs), self._add)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Call(self._channel.stream_stream(method, *args, **kwargs), self._add)


class MetadataChannel(_Multicallables, grpc.Channel):
    """A sync channel whose every call carries `add(metadata)`."""

    def __init__(self, channel: grpc.Channel, add: AddMetadata) -> None:
        self._channel = channel
        self._add = add

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        self._channel.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Any) -> None:
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> MetadataChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()


class AioMetadataChannel(_Multicallables, grpc.aio.Channel):
    """An aio channel whose every call carries `add(metadata)`."""

    def __init__(self, channel: grpc.aio.Channel, add: AddMetadata) -> None:
        self._channel = channel
        self._add = add

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()

    async def __aenter__(self) -> AioMetadataChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._channel.close(None)
