"""The recorder delivers usage records in batches (issue 12): whatever is queued goes
in one Metering.RecordUsageBatch, and a record that finds the sender idle waits a
linger for company (0: at once), as does the first record queued while a batch was in
flight; each record's answer decides
its spool file as RecordUsage's did (deleted once written, set aside when refused for
good, kept and sent again otherwise); a Metering without the batch RPC, and a traced
router, get the records one by one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.router.recorder import UsageRecorder
from tollgate import telemetry
from tollgate.v1 import common_pb2, metering_pb2

from .harness import FakeMetering, eventually, run


class BatchMetering(FakeMetering):
    """A FakeMetering with RecordUsageBatch: it keeps each batch's request ids, can be
    held (`gate` cleared) to let records queue, refuses the ids in `refuse` for good,
    does not write those in `not_now` (once each), and fails `fail_batches` batches."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()
        self.refuse: set[str] = set()
        self.not_now: set[str] = set()
        self.fail_batches = 0
        self.poison: set[str] = set()  # a batch holding one fails; alone, it fails too
        self.singles: list[str] = []  # request ids sent with RecordUsage

    def RecordUsageBatch(  # noqa: N802 (gRPC's name)
        self, request: metering_pb2.UsageBatch, context: grpc.ServicerContext
    ) -> metering_pb2.RecordUsageBatchResponse:
        self.arrived.set()
        self.gate.wait(10)
        ids = [r.request_id for r in request.records]
        if self.poison & set(ids):
            raise RuntimeError("a record metering cannot take")  # answered UNKNOWN
        with self._lock:
            self.batches.append(ids)
            if self.fail_batches > 0:
                self.fail_batches -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "metering is busy")
        results = []
        for record in request.records:
            result = metering_pb2.RecordUsageBatchResult(request_id=record.request_id)
            with self._lock:
                if record.request_id in self.refuse:
                    result.refused = "key 'k' is not a key of project 'p'"
                elif record.request_id in self.not_now:
                    self.not_now.discard(record.request_id)
                else:
                    duplicate = any(r.request_id == record.request_id for r in self.records)
                    self.records.append(record)
                    result.recorded.CopyFrom(
                        metering_pb2.RecordUsageResponse(
                            cost=common_pb2.Money(amount="0", currency="USD"), duplicate=duplicate
                        )
                    )
            results.append(result)
        return metering_pb2.RecordUsageBatchResponse(results=results)

    def RecordUsage(  # noqa: N802 (gRPC's name)
        self, request: metering_pb2.UsageRecord, context: grpc.ServicerContext
    ) -> metering_pb2.RecordUsageResponse:
        with self._lock:
            self.singles.append(request.request_id)
        if request.request_id in self.poison:
            context.abort(grpc.StatusCode.INTERNAL, "a record metering cannot take")
        return super().RecordUsage(request, context)


@pytest.fixture
def batching() -> Iterator[BatchMetering]:
    fake = BatchMetering()
    fake.start()
    yield fake
    fake.gate.set()
    fake.stop()


def _record(request_id: str) -> metering_pb2.UsageRecord:
    return metering_pb2.UsageRecord(request_id=request_id, model_served="m")


def _files(spool: Path) -> set[str]:
    return {path.name for path in spool.iterdir()}


def test_a_lone_record_goes_at_once_and_records_queued_meanwhile_go_in_one_batch(
    tmp_path: Path, batching: BatchMetering
) -> None:
    spool = tmp_path / "spool"

    async def scenario() -> None:
        recorder = UsageRecorder(spool, batching.addr, linger=0)
        await recorder.start()
        recorder.put(_record("first"))
        await eventually(lambda: recorder.pending == 0, what="the lone record delivered")
        assert batching.batches == [["first"]] and _files(spool) == set()
        batching.gate.clear()  # Metering is slow: the next batch waits for its answer
        batching.arrived.clear()
        recorder.put(_record("slow"))
        await eventually(batching.arrived.is_set, what="the batch in flight")
        for n in range(5):
            recorder.put(_record(f"queued-{n}"))
        # Nothing is deleted before Metering has it.
        assert _files(spool) == {"slow.rec", *(f"queued-{n}.rec" for n in range(5))}
        batching.gate.set()
        await eventually(lambda: recorder.pending == 0, what="all delivered")
        assert batching.batches[1:] == [["slow"], [f"queued-{n}" for n in range(5)]]
        assert _files(spool) == set() and batching.singles == []
        await recorder.close()

    run(scenario())


def test_records_one_at_a_time_share_a_batch_within_the_linger(
    tmp_path: Path, batching: BatchMetering
) -> None:
    spool = tmp_path / "spool"

    async def scenario() -> None:
        recorder = UsageRecorder(spool, batching.addr, linger=0.3)
        await recorder.start()
        started = time.monotonic()
        for n in range(3):  # calls ending one after another, a few ms apart
            recorder.put(_record(f"call-{n}"))
            await asyncio.sleep(0.01)
        await eventually(lambda: recorder.pending == 0, what="the three delivered")
        waited = time.monotonic() - started
        assert batching.batches == [["call-0", "call-1", "call-2"]]
        assert waited >= 0.3  # the first waited the linger for the other two
        assert _files(spool) == set()
        # With the sender idle again, the next record waits a linger of its own.
        recorder.put(_record("later"))
        await eventually(lambda: recorder.pending == 0, what="the later one delivered")
        assert batching.batches[1:] == [["later"]]
        await recorder.close()

    run(scenario())


def test_records_queued_behind_a_batch_in_flight_wait_the_linger_too(
    tmp_path: Path, batching: BatchMetering
) -> None:
    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, batching.addr, linger=0.3)
        await recorder.start()
        batching.gate.clear()
        recorder.put(_record("a"))
        await eventually(batching.arrived.is_set, what="the first batch in flight")
        recorder.put(_record("b"))  # queued while "a" is in flight
        batching.gate.set()
        await eventually(lambda: recorder.pending == 1, what="the first batch answered")
        recorder.put(_record("c"))  # within "b"'s linger: they share a batch
        await eventually(lambda: recorder.pending == 0, what="all delivered")
        assert batching.batches == [["a"], ["b", "c"]]
        await recorder.close()

    run(scenario())


def test_a_batch_is_at_most_max_batch_records(tmp_path: Path, batching: BatchMetering) -> None:
    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, batching.addr, max_batch=3)
        await recorder.start()
        for n in range(7):
            recorder.put(_record(f"r-{n}"))
        await eventually(lambda: recorder.pending == 0, what="all delivered")
        assert [len(batch) for batch in batching.batches] == [3, 3, 1]
        await recorder.close()

    run(scenario())


def test_each_records_answer_decides_its_file(tmp_path: Path, batching: BatchMetering) -> None:
    batching.refuse = {"forged"}
    batching.not_now = {"unsettled"}

    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, batching.addr, backoff_initial=0.01)
        await recorder.start()
        for name in ("ok-1", "forged", "unsettled", "ok-2"):
            recorder.put(_record(name))
        await eventually(lambda: recorder.pending == 0, what="all settled")
        assert _files(tmp_path) == {"forged.rec.dead"}  # set aside for an operator
        assert batching.batches[0] == ["ok-1", "forged", "unsettled", "ok-2"]
        assert batching.batches[1:] == [["unsettled"]]  # not written the first time
        assert sorted(r.request_id for r in batching.records) == ["ok-1", "ok-2", "unsettled"]
        await recorder.close()

    run(scenario())


def test_a_failed_batch_is_sent_again_until_metering_has_it(
    tmp_path: Path, batching: BatchMetering
) -> None:
    batching.fail_batches = 2

    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, batching.addr, backoff_initial=0.01)
        await recorder.start()
        recorder.put(_record("a"))
        recorder.put(_record("b"))
        await eventually(lambda: recorder.pending == 0, what="delivered")
        assert batching.batches == [["a", "b"]] * 3
        assert _files(tmp_path) == set()
        batching.assert_each_once()
        await recorder.close()

    run(scenario())


def test_a_record_that_fails_its_batch_does_not_hold_up_the_others(
    tmp_path: Path, batching: BatchMetering
) -> None:
    batching.poison = {"poison"}

    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, batching.addr, backoff_initial=0.01)
        await recorder.start()
        for name in ("a", "poison", "b"):
            recorder.put(_record(name))
        await eventually(lambda: recorder.pending == 1, what="the others delivered")
        assert sorted(r.request_id for r in batching.records) == ["a", "b"]
        assert _files(tmp_path) == {"poison.rec"}  # kept, and still tried on its own
        await recorder.close(timeout=0.05)
        assert _files(tmp_path) == {"poison.rec"}

    run(scenario())


def test_without_the_batch_rpc_records_go_one_by_one(
    tmp_path: Path, metering: FakeMetering
) -> None:
    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, metering.addr)  # a Metering of before batches
        await recorder.start()
        for n in range(4):
            recorder.put(_record(f"old-{n}"))
        await eventually(lambda: recorder.pending == 0, what="delivered")
        assert sorted(r.request_id for r in metering.records) == [f"old-{n}" for n in range(4)]
        assert _files(tmp_path) == set()
        await recorder.close()

    run(scenario())


def test_a_traced_router_sends_each_record_in_its_calls_context(
    tmp_path: Path, batching: BatchMetering, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "enabled", lambda: True)

    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, batching.addr)
        await recorder.start()
        recorder.put(_record("traced-1"))
        recorder.put(_record("traced-2"))
        await eventually(lambda: recorder.pending == 0, what="delivered")
        assert sorted(batching.singles) == ["traced-1", "traced-2"] and batching.batches == []
        await recorder.close()

    run(scenario())
