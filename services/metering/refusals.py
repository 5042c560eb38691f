"""How the operators' RPCs refuse: a Refusal carries the gRPC code, a message for a
person and the request field at fault (sent as the trailing metadata `tollgate-param`,
see tollgate/grpcparam.py); an unknown project is NOT_FOUND."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import grpc

from tollgate.grpcparam import PARAM_KEY

T = TypeVar("T")


class Refusal(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, param: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def invalid(param: str, error: Exception) -> Refusal:
    """An INVALID_ARGUMENT naming the request field `param`."""
    return Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(error), param)


def _abort(context: grpc.ServicerContext, error: Exception) -> NoReturn:
    if isinstance(error, Refusal):
        if error.param:
            context.set_trailing_metadata(((PARAM_KEY, error.param),))
        context.abort(error.code, error.message)
        raise AssertionError("context.abort returns only by raising")
    message = str(error.args[0]) if error.args else ""
    if not message.startswith("no project"):
        message = "no such project"
    context.abort(grpc.StatusCode.NOT_FOUND, message)
    raise AssertionError("context.abort returns only by raising")


def answer(context: grpc.ServicerContext, handler: Callable[[], T]) -> T:
    """`handler()`'s reply, or its Refusal or LookupError as a refusal."""
    try:
        return handler()
    except (Refusal, LookupError) as error:
        _abort(context, error)


def stream(context: grpc.ServicerContext, handler: Callable[[], Iterator[T]]) -> Iterator[T]:
    """`handler()`'s messages, one by one; a refusal before or between them ends it."""
    try:
        yield from handler()
    except (Refusal, LookupError) as error:
        _abort(context, error)
