"""Tables of the Batch API (migration 0010), written by the router alone: uploaded and
output files, batches, and each batch's lines with their run state.

A line is claimed by one runner with a lease (`lease_owner`, `lease_until`) that the
runner renews while the line runs; a line whose lease ran out belongs to a dead
runner and is claimed again (its request id is the same, so metering bills it once)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tollgate.db.models import Base


class StoredFile(Base):
    """One file of one project: an uploaded batch input or a batch's output."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_project_created", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column("bytes", BigInteger)  # the file's length
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BatchRow(Base):
    """One batch: what the client asked, its status and when each status began, its
    request counts, and its output and error files once finalized."""

    __tablename__ = "batches"
    __table_args__ = (
        Index("ix_batches_project_created", "project_id", "created_at"),
        Index("ix_batches_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(40))
    endpoint: Mapped[str] = mapped_column(String(40))
    input_file_id: Mapped[str] = mapped_column(String(40))
    completion_window: Mapped[str] = mapped_column(String(16))
    # validating | failed | in_progress | finalizing | completed | expired |
    # cancelling | cancelled (services/router/batch/states.py)
    status: Mapped[str] = mapped_column(String(16))
    metadata_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    errors_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    output_file_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_file_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The tokens of the lines that ran, summed when the batch is finalized.
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    in_progress_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finalizing_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelling_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Who is finalizing it (writing its files), until when: a dead finalizer's batch is
    # finalized again by another runner.
    finalize_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BatchLineRow(Base):
    """One request of a batch: what to send, its run state and lease, and its output
    line (OpenAI's batch output format) once it ran."""

    __tablename__ = "batch_lines"
    __table_args__ = (
        Index("ix_batch_lines_state_lease", "state", "lease_until"),
        Index("ix_batch_lines_batch_state", "batch_id", "state"),
    )

    batch_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    custom_id: Mapped[str] = mapped_column(String(512))
    request_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    end_user: Mapped[str] = mapped_column(String(200), default="", server_default="")
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    body: Mapped[bytes] = mapped_column(LargeBinary)
    # queued | running | succeeded | failed | cancelled | expired
    state: Mapped[str] = mapped_column(String(12))
    lease_owner: Mapped[str] = mapped_column(String(64), default="", server_default="")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status_code: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # A line that never ran (cancelled, expired): its hold was released with Budget.
    released: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


FILES = cast(Table, StoredFile.__table__)
BATCHES = cast(Table, BatchRow.__table__)
BATCH_LINES = cast(Table, BatchLineRow.__table__)
