"""A recorder for tests that drive the router's servicer directly: it keeps the
records it is given in a list, and the progress of every call opened with it."""

from __future__ import annotations

from services.router.opencalls import OpenCall, Progress, untracked
from tollgate.v1 import metering_pb2


class ListRecorder:
    def __init__(self) -> None:
        self.records: list[metering_pb2.UsageRecord] = []
        self.opened: dict[str, Progress] = {}  # request id -> the call's interrupted record

    def open(self, request_id: str, progress: Progress) -> OpenCall:
        self.opened[request_id] = progress
        return untracked(request_id)

    def put(self, record: metering_pb2.UsageRecord) -> None:
        self.records.append(record)
