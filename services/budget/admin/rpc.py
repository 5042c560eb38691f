"""What every admin RPC shares: what it works on, and how its refusals travel.

An `AdminError` becomes INVALID_ARGUMENT (NotFound: NOT_FOUND, AlreadyExists:
ALREADY_EXISTS) with its message as the details and the field at fault in the
trailing metadata `PARAM_KEY`, so the HTTP admin API can fill OpenAI's `param`.
Any other ValueError (a bad amount from tollgate.money, say) is INVALID_ARGUMENT too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import grpc
from sqlalchemy import Engine

from services.budget.admin.audit_log import acting_as, actor_of
from services.budget.admin.errors import AdminError, AlreadyExists, NotFound
from tollgate.alertconfig import AlertSettings
from tollgate.config import load_settings

PARAM_KEY = "tollgate-param"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AdminContext:
    """The database and the settings operator actions need. A setting left None is
    read from the configuration at each call (in-process test servers)."""

    engine: Engine
    zone: ZoneInfo | None = None
    alerts: AlertSettings | None = None

    def alert_settings(self) -> AlertSettings:
        return self.alerts if self.alerts is not None else load_settings(service="budget").alerts


def _code(exc: ValueError) -> grpc.StatusCode:
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS
    return grpc.StatusCode.INVALID_ARGUMENT


def admin_rpc(method: F) -> F:
    """Answer the method's AdminErrors (and ValueErrors) with their gRPC codes; the
    changes it makes are audited as the actor the call's metadata names."""

    @functools.wraps(method)
    def wrapped(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            with acting_as(actor_of(context.invocation_metadata())):
                return method(self, request, context)
        except ValueError as exc:
            param = exc.param if isinstance(exc, AdminError) else None
            if param and param.isascii() and param.isprintable():
                context.set_trailing_metadata(((PARAM_KEY, param),))
            context.abort(_code(exc), str(exc))

    return cast(F, wrapped)


def given(request: Any, name: str) -> Any:
    """An optional field of `request`, None when unset."""
    return getattr(request, name) if request.HasField(name) else None
