"""What `tollgate health metering` adds: usage records kept in the dead-letter table."""

from __future__ import annotations

import grpc

from tollgate.grpcutil import sync_channel
from tollgate.v1 import metering_pb2, metering_pb2_grpc


def dead_letter_note(addr: str, timeout: float = 2.0) -> str | None:
    """A line about metering's dead letters, None when there are none (or it cannot say)."""
    channel = sync_channel(addr)
    try:
        reply = metering_pb2_grpc.MeteringStub(channel).GetDeadLetters(
            metering_pb2.DeadLettersRequest(limit=1), timeout=timeout
        )
    except grpc.RpcError:
        return None
    finally:
        channel.close()
    if not reply.count:
        return None
    latest = reply.latest[0] if reply.latest else None
    detail = f"; latest {latest.request_id}: {latest.error}" if latest else ""
    return (
        f"{reply.count} usage record(s) in the dead-letter table (billed with fields made "
        f"safe; see usage_dead_letters){detail}"
    )
