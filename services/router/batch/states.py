"""A batch's and a line's states, as stored, and the batch's as the contract shows it.

    validating -> in_progress -> finalizing -> completed
    validating -> failed                      (the input file did not validate)
    validating | in_progress -> cancelling -> cancelled
    in_progress -> expired                    (the completion window ran out)

A line is queued, then running under a runner's lease, then succeeded or failed
(its call ran), or cancelled or expired (it never ran; its hold is released)."""

from __future__ import annotations

from enum import StrEnum

from tollgate.v1 import batch_pb2


class BatchState(StrEnum):
    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"

    def proto(self) -> batch_pb2.BatchStatus:
        return batch_pb2.BatchStatus.Value("BATCH_STATUS_" + self.name)

    @classmethod
    def of_proto(cls, status: batch_pb2.BatchStatus) -> BatchState:
        return cls[batch_pb2.BatchStatus.Name(status).removeprefix("BATCH_STATUS_")]


# The states a batch ends in: nothing of it runs or changes any more.
FINAL = frozenset(
    {BatchState.FAILED, BatchState.COMPLETED, BatchState.EXPIRED, BatchState.CANCELLED}
)
# A batch a client may still cancel.
CANCELLABLE = frozenset({BatchState.VALIDATING, BatchState.IN_PROGRESS})


class LineState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# A line's call ran: its output line is in the output or the error file.
RAN = frozenset({LineState.SUCCEEDED, LineState.FAILED})
# A line that never ran: its hold is released.
NEVER_RAN = frozenset({LineState.CANCELLED, LineState.EXPIRED})
