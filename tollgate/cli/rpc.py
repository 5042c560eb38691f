"""The CLI's line to Budget: a channel to TOLLGATE_BUDGET_ADDR with the suite's
internal credential (TOLLGATE_INTERNAL_TOKEN or the state folder's token file; never
made here), and Budget's answers as the CLI shows them.

A refused input (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION)
becomes a ValueError, which the CLI prints as one line with exit status 2. A Budget
that does not answer, or refuses the credential, is one line naming its address and
exit status 1.

Every call names the OS user as its actor (`tollgate-actor: cli:<user>`), which Budget
writes into the audit log with each change the command makes.

With `--url` (remote.py) the block gets a stand-in that asks the gateway's admin API."""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import grpc

from tollgate.cli import remote
from tollgate.config import Settings
from tollgate.grpcutil import credential_of, sync_channel
from tollgate.v1 import budget_pb2_grpc

TIMEOUT_SECONDS = 60.0  # a whole price map is one call
_REFUSED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
}


ACTOR_KEY = "tollgate-actor"


def actor() -> str:
    """`cli:` and the OS user running the command (printable ASCII, at most 100)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = ""
    return "cli:" + (re.sub(r"[^\x21-\x7e]", "?", user)[:100] or "unknown")


class _Deadline(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Give every call a deadline (a Budget that hangs must not hang the CLI) and the
    actor the audit log names."""

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        if details.timeout is None:
            details = details._replace(timeout=TIMEOUT_SECONDS)
        metadata = (*(details.metadata or ()), (ACTOR_KEY, actor()))
        return continuation(details._replace(metadata=metadata), request)


def unreachable(service: str, addr: str) -> str:
    return (
        f"tollgate's {service} service at {addr} is not reachable; "
        "start the suite with `tollgate up`"
    )


def _exit(message: str) -> None:
    print(f"tollgate: {message}", file=sys.stderr)
    raise SystemExit(1)


def failure(service: str, addr: str, error: grpc.RpcError) -> Exception:
    """What the CLI raises for a failed call (or it exits with one line)."""
    code = error.code() if isinstance(error, grpc.Call) else None
    details = (error.details() if isinstance(error, grpc.Call) else "") or str(code)
    if code in _REFUSED:
        return ValueError(details)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        _exit(unreachable(service, addr))
    if code == grpc.StatusCode.UNAUTHENTICATED:
        _exit(
            f"tollgate's {service} service at {addr} refused this command's internal "
            "credential: use the running suite's TOLLGATE_HOME or TOLLGATE_INTERNAL_TOKEN"
        )
    return error


@contextmanager
def budget(settings: Settings) -> Iterator[budget_pb2_grpc.BudgetStub]:
    """Budget at TOLLGATE_BUDGET_ADDR; a failed call in the block becomes `failure`'s.
    With `--url`, the remote gateway's admin API in its stead."""
    target = remote.current()
    if target is not None:
        yield cast(budget_pb2_grpc.BudgetStub, remote.RemoteBudget(target))
        return
    addr = settings.addrs["budget"]
    channel = grpc.intercept_channel(
        sync_channel(addr, credential_of(settings, create_token=False)), _Deadline()
    )
    try:
        yield budget_pb2_grpc.BudgetStub(channel)
    except grpc.RpcError as error:
        raise failure("budget", addr, error) from None
    finally:
        channel.close()
