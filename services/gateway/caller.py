"""Who is calling: the project key a request presented, as the gateway knows it.

`Caller` is the gateway's one caller type (auth.py resolves it, the gate admits it,
the rate limits count against it); `caller_proto` is the one place it becomes the
contract's `common_pb2.Caller` for Budget and the router."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tollgate.v1 import common_pb2


@dataclass(frozen=True)
class Caller:
    key_id: str
    project_id: str
    project: str  # the project's name, for messages
    currency: str
    paused_at: datetime | None = None  # set while a spike alert holds the key


def caller_proto(caller: Caller, end_user: str = "") -> common_pb2.Caller:
    """The caller as the contracts carry it, with the request's end user (`user`)."""
    return common_pb2.Caller(project_id=caller.project_id, key_id=caller.key_id, end_user=end_user)
