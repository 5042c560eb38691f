"""No record blocks metering (issue 8): a record the ledger cannot store as it came is
kept in the dead-letter table, alerted once, and billed with its fields made safe; a
record for an unknown project or another project's key is refused for good, and
charges nobody. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest
from sqlalchemy import func, select

from services.budget.admin import operations as admin
from tests.metering.services import Services, record, usage_record
from tollgate.cli.deadletters import dead_letter_note
from tollgate.db.models import ALERT_EVENTS, DEAD_LETTERS, LEDGER, RESERVATIONS
from tollgate.grpcutil import InternalCredential, use_credential
from tollgate.v1 import common_pb2, metering_pb2


def _note(s: Services) -> str | None:
    """dead_letter_note as `tollgate health metering` calls it: with the credential."""
    previous = use_credential(InternalCredential(s.token))
    try:
        return dead_letter_note(s.addr)
    finally:
        use_credential(previous)


def _count(s: Services, table) -> int:  # type: ignore[no-untyped-def]
    with s.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _ledger_row(s: Services, request_id: str):  # type: ignore[no-untyped-def]
    with s.engine.connect() as conn:
        return conn.execute(select(LEDGER).where(LEDGER.c.request_id == request_id)).one()


def test_a_nul_in_end_user_is_billed_kept_as_a_dead_letter_and_alerted_once(
    services: Services,
) -> None:
    s = services
    caller = common_pb2.Caller(project_id=s.project, key_id=s.key, end_user="ali\x00ce")
    sent = usage_record(s, "nul-user", 1_000_000, 500_000, caller=caller)
    for _ in range(3):  # the router redelivers until it hears back: each answer is the same
        reply = s.metering.RecordUsage(sent)
        assert (reply.cost.amount, reply.cost.currency) == ("73.50", "CNY")
    row = _ledger_row(s, "nul-user")
    assert (row.end_user, row.cost_nano, row.status) == ("alice", 73_500_000_000, "ok")
    with s.engine.connect() as conn:
        (letter,) = conn.execute(select(DEAD_LETTERS)).all()
        alerts = conn.execute(select(ALERT_EVENTS)).all()
    assert letter.request_id == "nul-user" and letter.project_id == s.project
    assert metering_pb2.UsageRecord.FromString(letter.record) == sent  # exactly as it came
    assert "end_user" in letter.error and letter.alerted_at is not None
    assert [(a.kind, a.subject, a.project_id) for a in alerts] == [
        ("operator", "dead_letter:nul-user", s.project)
    ]
    assert "dead-letter" in alerts[0].message
    note = _note(s)  # what `tollgate health metering` adds
    assert note is not None and note.startswith("1 usage record(s) in the dead-letter table")
    shown = s.metering.GetDeadLetters(metering_pb2.DeadLettersRequest(limit=5))
    assert shown.count == 1 and [d.request_id for d in shown.latest] == ["nul-user"]
    assert "end_user" in shown.latest[0].error and shown.latest[0].created_at_unix_ms > 0


def test_fields_past_their_columns_and_impossible_numbers_are_made_safe(
    services: Services,
) -> None:
    s = services
    long_id = "r" * 300
    sent = usage_record(
        s,
        long_id,
        10,
        7,
        model_requested="m\x00" * 150,
        provider="p" * 500,
        started_at_unix_ms=2**62,
        latency_ms=2**40,
    )
    reply = s.metering.RecordUsage(sent)
    assert Decimal(reply.cost.amount) == (Decimal(10) * 21 + Decimal(7) * 105) / 10**6
    again = s.metering.RecordUsage(sent)  # the id became a digest, the same one again
    assert again.duplicate and again.cost == reply.cost
    with s.engine.connect() as conn:
        (row,) = conn.execute(select(LEDGER)).all()
        (letter,) = conn.execute(select(DEAD_LETTERS)).all()
    assert row.request_id == letter.request_id and len(row.request_id) == 64
    assert row.model_requested == "m" * 150 and row.provider == "p" * 100
    assert row.latency_ms == 2**31 - 1 and row.started_at.year >= 2026
    for field in ("request_id", "model_requested", "provider", "started_at", "latency"):
        assert field in letter.error


def test_a_long_end_user_is_cut_to_its_column_without_a_dead_letter(services: Services) -> None:
    s = services
    assert _note(s) is None
    caller = common_pb2.Caller(project_id=s.project, key_id=s.key, end_user="u" * 500)
    record(s, "long-user", 10, 1, caller=caller)
    assert _ledger_row(s, "long-user").end_user == "u" * 200
    assert _count(s, DEAD_LETTERS) == 0


def test_usage_of_an_unknown_project_or_another_projects_key_is_refused_for_good(
    services: Services,
) -> None:
    s = services
    other = admin.create_project(s.engine, "other")
    other_key = admin.create_key(s.engine, "other").info.id
    forged = [
        common_pb2.Caller(project_id="prj_nobody", key_id=s.key),
        common_pb2.Caller(project_id=s.project, key_id=other_key),  # another project's key
        common_pb2.Caller(project_id=other.id, key_id=s.key),
        common_pb2.Caller(project_id=s.project, key_id="key_nobody"),
        common_pb2.Caller(project_id=s.project, key_id=""),
        common_pb2.Caller(project_id=s.project, key_id="k\x00" * 30),
    ]
    for i, caller in enumerate(forged):
        with pytest.raises(grpc.RpcError) as info:
            record(s, f"forged-{i}", 1_000, 1_000, caller=caller)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION, caller
    # Nothing settled (Budget remembers every settlement), nothing written.
    assert _count(s, LEDGER) == _count(s, RESERVATIONS) == _count(s, DEAD_LETTERS) == 0


@pytest.mark.parametrize(
    "usage",
    [
        common_pb2.Usage(prompt_tokens=10**13),
        common_pb2.Usage(completion_tokens=2**62),
        common_pb2.Usage(reasoning_tokens=-1),
    ],
)
def test_absurd_token_counts_are_invalid(services: Services, usage: common_pb2.Usage) -> None:
    with pytest.raises(grpc.RpcError) as info:
        record(services, "absurd", 0, 0, usage=usage)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _count(services, LEDGER) == _count(services, RESERVATIONS) == 0


def test_an_interrupted_call_is_billed_and_reported_like_a_partial_one(
    services: Services,
) -> None:
    s = services
    record(
        s,
        "cut",
        100,
        40,
        status=metering_pb2.CALL_STATUS_INTERRUPTED,
        usage_source=common_pb2.USAGE_SOURCE_ESTIMATED,
        http_status=502,
    )
    row = _ledger_row(s, "cut")
    assert (row.status, row.usage_source) == ("interrupted", "estimated")
    assert row.cost_nano == (100 * 21 + 40 * 105) * 1000  # CNY 21 / 105 per million
    report = s.metering.GetUsageReport(metering_pb2.UsageReportRequest(project_id=s.project))
    assert (report.requests, report.input_tokens, report.output_tokens) == (1, 100, 40)
    assert Decimal(report.total.amount) == Decimal(row.cost_nano) / 10**9
