"""`tollgate health SERVICE`: what the service at an address says, or that nothing
answers there. "NOT SERVING" is a service's own answer (it is up, not ready, or
stopping); a refused connection or no answer in time is "unreachable"."""

from __future__ import annotations

from enum import StrEnum

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tollgate.grpcutil import sync_channel


class Health(StrEnum):
    SERVING = "SERVING"
    NOT_SERVING = "NOT SERVING"
    UNREACHABLE = "unreachable"


def probe(addr: str, timeout: float) -> tuple[Health, str]:
    """The service's health at addr, with a reason when it is not SERVING."""
    with sync_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                why = "nothing answers there" if code is grpc.StatusCode.UNAVAILABLE else ""
                return Health.UNREACHABLE, why or f"no answer within {timeout:g} s"
            return Health.NOT_SERVING, f"{code.name}: {exc.details()}"  # type: ignore[attr-defined]
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return Health.SERVING, ""
    return Health.NOT_SERVING, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
