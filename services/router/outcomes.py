"""How a call's usage record says it ended, shared by chat and embeddings."""

from __future__ import annotations

import time

from tollgate.v1 import common_pb2, metering_pb2

OK = metering_pb2.CALL_STATUS_OK
FAILED = metering_pb2.CALL_STATUS_FAILED
PARTIAL = metering_pb2.CALL_STATUS_PARTIAL
PROVIDER = common_pb2.USAGE_SOURCE_PROVIDER
ESTIMATED = common_pb2.USAGE_SOURCE_ESTIMATED
# nginx's "client closed request": the status recorded for a call the client cancelled.
CLIENT_CLOSED = 499


def now_ms() -> int:
    return int(time.time() * 1000)
