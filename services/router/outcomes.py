"""How a call's usage record says it ended, shared by chat and embeddings."""

from __future__ import annotations

import time

from tollgate.v1 import common_pb2, metering_pb2

OK = metering_pb2.CALL_STATUS_OK
FAILED = metering_pb2.CALL_STATUS_FAILED
PARTIAL = metering_pb2.CALL_STATUS_PARTIAL
# The router died in flight: billed from the call's open file (services/router/opencalls.py).
INTERRUPTED = metering_pb2.CALL_STATUS_INTERRUPTED
PROVIDER = common_pb2.USAGE_SOURCE_PROVIDER
ESTIMATED = common_pb2.USAGE_SOURCE_ESTIMATED
# nginx's "client closed request": the status recorded for a call the client cancelled.
CLIENT_CLOSED = 499
# The status of an interrupted call: its client saw the stream break.
INTERRUPTED_HTTP_STATUS = 502


def now_ms() -> int:
    return int(time.time() * 1000)
