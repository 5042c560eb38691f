"""Calls in flight are durable (issue 8): a call is opened in the spool before its
upstream request, checkpointed and heartbeated while it lives, replaced by its final
record when it ends, and settled as interrupted by a sweep when its router died. The
spool is private, and a record Metering refuses for good is set aside, not retried."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from services.router.opencalls import CHECKPOINT_CHUNKS, OpenCalls
from services.router.recorder import UsageRecorder
from services.router.spool import spool_name
from tollgate.tokens import count_text
from tollgate.v1 import common_pb2, metering_pb2
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import (
    FakeMetering,
    eventually,
    make_settings,
    openai_provider,
    run,
    running_router,
    spooled,
)

INTERRUPTED = metering_pb2.CALL_STATUS_INTERRUPTED
ESTIMATED = common_pb2.USAGE_SOURCE_ESTIMATED
MESSAGES = [{"role": "user", "content": "word " * 150}]  # a reply of about 50 tokens
Upstreams = Callable[..., MockUpstream]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _open_record(spool: Path, request_id: str) -> metering_pb2.UsageRecord:
    return metering_pb2.UsageRecord.FromString(
        (spool / spool_name(request_id, ".open")).read_bytes()
    )


def test_a_stream_is_opened_before_its_upstream_request_and_checkpointed_as_it_goes(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams(latency_ms=300, token_delay_ms=60)  # ~50 tokens in 3 seconds
    settings = make_settings(tmp_path, metering.addr, [openai_provider(upstream, ["gpt-test"])])
    spool = settings.spool_dir

    def checkpointed(request_id: str) -> int:
        return _open_record(spool, request_id).usage.completion_tokens

    async def scenario() -> None:
        async with running_router(settings) as router:
            body = {"model": "gpt-test", "messages": MESSAGES, "stream": True}
            request = router.request(body, prompt_tokens_estimate=160)
            call = router.stub.ChatCompletion(request)
            await eventually(lambda: len(upstream.app.state.requests) == 1, what="upstream call")
            # The upstream has the request and has answered nothing yet: the call is open.
            opened = _open_record(spool, request.request_id)
            assert (opened.status, opened.usage_source) == (INTERRUPTED, ESTIMATED)
            assert opened.usage == common_pb2.Usage(prompt_tokens=160)
            assert (opened.caller, opened.model_served) == (request.caller, "gpt-test")
            assert _mode(spool) == 0o700
            assert _mode(spool / spool_name(request.request_id, ".open")) == 0o600
            text = ""
            async for event in call:
                for choice in json.loads(event.chunk).get("choices", []) if event.chunk else []:
                    text += choice["delta"].get("content") or ""
                if count_text(text, "gpt-test") >= 12:
                    break
            # Within a heartbeat (a second) the checkpoint has what the client saw.
            seen = count_text(text, "gpt-test")
            await eventually(
                lambda: checkpointed(request.request_id) >= seen, 2.5, what="a checkpoint"
            )
            async for _ in call:
                pass
            final = await metering.one(request.request_id)
            assert final.status == metering_pb2.CALL_STATUS_OK
            assert list(spool.glob("*.open")) == []  # the final record replaced it
            await eventually(lambda: spooled(settings) == [], what="record delivered")

    run(scenario())


def test_an_open_call_is_checkpointed_every_so_many_chunks(tmp_path: Path) -> None:
    calls = OpenCalls(tmp_path)
    output = [0]

    def progress() -> metering_pb2.UsageRecord:
        usage = common_pb2.Usage(completion_tokens=output[0])
        return metering_pb2.UsageRecord(request_id="req-c", usage=usage)

    call = calls.open("req-c", progress)
    for _ in range(CHECKPOINT_CHUNKS - 1):
        output[0] += 1
        call.advance()
    assert _open_record(tmp_path, "req-c").usage.completion_tokens == 0
    output[0] += 1
    call.advance()
    assert _open_record(tmp_path, "req-c").usage.completion_tokens == CHECKPOINT_CHUNKS
    output[0] += 5
    call.advance()
    calls.heartbeat()  # new output since the checkpoint: written at the heartbeat
    assert _open_record(tmp_path, "req-c").usage.completion_tokens == CHECKPOINT_CHUNKS + 5
    calls.close("req-c")
    assert list(tmp_path.iterdir()) == [] and len(calls) == 0


def test_a_slow_upstream_keeps_its_open_call_alive(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams(latency_ms=2500)
    settings = make_settings(tmp_path, metering.addr, [openai_provider(upstream, ["gpt-test"])])

    async def scenario() -> None:
        async with running_router(settings) as router:
            request = router.request({"model": "gpt-test", "messages": MESSAGES})
            answer = asyncio.ensure_future(router.call(request))
            path = settings.spool_dir / spool_name(request.request_id, ".open")
            await eventually(path.exists, what="open file")
            first = path.stat().st_mtime
            await eventually(lambda: path.stat().st_mtime >= first + 1, what="a heartbeat")
            assert not (await answer).errors
            assert (await metering.one(request.request_id)).status == metering_pb2.CALL_STATUS_OK
            assert not path.exists()

    run(scenario())


def _spool_open(spool: Path, request_id: str, completion: int, age: float) -> Path:
    record = metering_pb2.UsageRecord(
        request_id=request_id,
        caller=common_pb2.Caller(project_id="p", key_id="k"),
        model_served="demo",
        usage=common_pb2.Usage(prompt_tokens=10, completion_tokens=completion),
        usage_source=ESTIMATED,
        status=INTERRUPTED,
    )
    path = spool / spool_name(request_id, ".open")
    path.write_bytes(record.SerializeToString())
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_the_sweep_settles_orphaned_open_calls_once_and_leaves_live_ones(
    tmp_path: Path, metering: FakeMetering
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o755)
    orphan = _spool_open(spool, "req-orphan", 42, age=60)
    fresh = _spool_open(spool, "req-live-elsewhere", 7, age=0)  # another replica's, beating
    ended = _spool_open(spool, "req-ended", 3, age=60)  # its final record made it to disk
    final = metering_pb2.UsageRecord(request_id="req-ended", status=metering_pb2.CALL_STATUS_OK)
    (spool / spool_name("req-ended")).write_bytes(final.SerializeToString())

    async def scenario() -> None:
        recorder = UsageRecorder(
            spool, metering.addr, open_stale_after=5, stale_after=0, sweep_interval=0.05
        )
        await recorder.start()
        assert _mode(spool) == 0o700  # an existing spool is made private
        mine = recorder.open("req-mine", lambda: metering_pb2.UsageRecord(request_id="req-mine"))
        os.utime(spool / mine.name, (time.time() - 60, time.time() - 60))  # stale, but ours
        settled = await metering.one("req-orphan")
        assert settled.status == INTERRUPTED and settled.usage.completion_tokens == 42
        assert (await metering.one("req-ended")).status == metering_pb2.CALL_STATUS_OK
        await eventually(lambda: recorder.pending == 0, what="deliveries done")
        await asyncio.sleep(0.2)  # a few more sweeps
        metering.assert_each_once()
        assert {r.request_id for r in metering.records} == {"req-orphan", "req-ended"}
        assert not orphan.exists() and not ended.exists()
        assert fresh.exists() and (spool / mine.name).exists()
        recorder.put(metering_pb2.UsageRecord(request_id="req-mine"))  # ends: file replaced
        assert not (spool / mine.name).exists()
        await recorder.close()

    run(scenario())


class RefusingMetering(FakeMetering):
    """Refuses every record for good, as Metering does a forged one."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def RecordUsage(
        self, request: metering_pb2.UsageRecord, context: grpc.ServicerContext
    ) -> metering_pb2.RecordUsageResponse:
        self.calls += 1
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no such key of that project")
        raise AssertionError("unreachable")


def test_a_record_refused_for_good_is_set_aside_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metering = RefusingMetering().start()

    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, metering.addr, backoff_initial=0.01, sweep_interval=0.05)
        await recorder.start()
        recorder.put(metering_pb2.UsageRecord(request_id="req-forged"))
        await eventually(lambda: (tmp_path / "req-forged.rec.dead").exists(), what="set aside")
        assert _mode(tmp_path / "req-forged.rec.dead") == 0o600
        await asyncio.sleep(0.3)  # backoff and sweeps: nothing sends it again
        assert metering.calls == 1 and recorder.pending == 0
        assert list(tmp_path.glob("*.rec")) == []
        await recorder.close()

    try:
        with caplog.at_level(logging.WARNING, logger="services.router.recorder"):
            run(scenario())
    finally:
        metering.stop()
    lines = [r for r in caplog.records if "req-forged" in r.getMessage()]
    assert len(lines) == 1 and "FAILED_PRECONDITION" in lines[0].getMessage()


def test_spool_files_are_private(tmp_path: Path, metering: FakeMetering) -> None:
    metering.fail_next = 1000  # keep the record in the spool

    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path / "spool", metering.addr, backoff_initial=0.5)
        await recorder.start()
        recorder.put(metering_pb2.UsageRecord(request_id="req-private"))
        assert _mode(tmp_path / "spool") == 0o700
        assert _mode(tmp_path / "spool" / "req-private.rec") == 0o600
        await recorder.close(timeout=0.1)

    run(scenario())
