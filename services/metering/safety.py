"""Make a usage record writable whatever came over the wire.

A record is billed even when some of its fields cannot be stored as they came: text
with NUL characters (PostgreSQL refuses them) or lone surrogates, text longer than
its ledger column, a start time no calendar holds, a latency past the column's range.
`make_safe` returns a copy with those fields made safe and says what it changed; the
caller keeps the original in the dead-letter table. The rules are the same on every
database, so SQLite and PostgreSQL bill the same record the same way.

A long `end_user` is cut to its column without further ado: clients choose that
field, and reports group by its first 200 characters.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tollgate.db.models import LEDGER
from tollgate.v1 import metering_pb2

INT32_MAX = 2**31 - 1
# Start times a calendar holds, with room: 2000-01-01 to 9999-01-01 UTC.
EARLIEST_MS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000)
LATEST_MS = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp() * 1000)
_SURROGATES = re.compile("[\ud800-\udfff]")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def _limit(column: str) -> int:
    length = getattr(LEDGER.c[column].type, "length", None)
    assert isinstance(length, int), column
    return length


REQUEST_ID_LIMIT = _limit("request_id")
END_USER_LIMIT = _limit("end_user")
TEXT_FIELDS = {  # record field -> its ledger column's length
    "model_requested": _limit("model_requested"),
    "model_served": _limit("model_served"),
    "provider": _limit("provider"),
    "deployment": _limit("deployment"),
    "batch_id": _limit("batch_id"),
}
# More tokens than any prompt has (ingest's MAX_TOKENS): a corrupt compaction count.
MAX_COMPACTED_TOKENS = 10**12


@dataclass
class Safe:
    record: metering_pb2.UsageRecord
    problems: list[str] = field(default_factory=list)


def clean_text(value: str, *, strict: bool = False) -> str:
    """`value` without NUL characters and lone surrogates (with `strict`, printable
    ASCII only: the last resort when the database refused the record anyway)."""
    if strict:
        return _NOT_PRINTABLE_ASCII.sub("", value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _SURROGATES.sub("", value)


def safe_request_id(request_id: str) -> str:
    """The id itself when it can be stored; else a digest of it, the same for every
    delivery of the record, so ingest stays idempotent."""
    if len(request_id) <= REQUEST_ID_LIMIT and clean_text(request_id, strict=True) == request_id:
        return request_id
    digest = hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).hexdigest()
    return ("h_" + digest)[:REQUEST_ID_LIMIT]


def make_safe(record: metering_pb2.UsageRecord, *, strict: bool = False) -> Safe:
    """A copy of `record` that every supported database stores, and what changed."""
    safe = Safe(metering_pb2.UsageRecord())
    safe.record.CopyFrom(record)
    out = safe.record
    request_id = safe_request_id(record.request_id)
    if request_id != record.request_id:
        out.request_id = request_id
        safe.problems.append("request_id cannot be stored: replaced by its digest")
    user = clean_text(record.caller.end_user, strict=strict)
    if user != record.caller.end_user:
        safe.problems.append("caller.end_user holds characters the ledger cannot store")
    out.caller.end_user = user[:END_USER_LIMIT]
    for name, limit in TEXT_FIELDS.items():
        value: str = getattr(record, name)
        cleaned = clean_text(value, strict=strict)
        if cleaned != value:
            safe.problems.append(f"{name} holds characters the ledger cannot store")
        if len(cleaned) > limit:
            safe.problems.append(f"{name} is longer than {limit} characters")
        setattr(out, name, cleaned[:limit])
    started = record.started_at_unix_ms
    if started and not EARLIEST_MS <= started <= LATEST_MS:
        out.started_at_unix_ms = 0  # now
        safe.problems.append(f"started_at_unix_ms {started} is not a time: now instead")
    if not 0 <= record.latency_ms <= INT32_MAX:
        out.latency_ms = min(max(record.latency_ms, 0), INT32_MAX)
        if record.latency_ms > INT32_MAX:
            safe.problems.append(f"latency_ms {record.latency_ms} is out of range")
    if not 0 <= record.compacted_tokens <= MAX_COMPACTED_TOKENS:
        out.compacted_tokens = 0  # savings are never guessed
        safe.problems.append(f"compacted_tokens {record.compacted_tokens} is out of range")
    if not 0 <= record.http_status <= 999:
        out.http_status = 0
        safe.problems.append(f"http_status {record.http_status} is not an HTTP status")
    return safe
