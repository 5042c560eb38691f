"""Calls that do not end well still leave exactly one usage record: a client that
cancels mid-stream, an upstream that breaks mid-stream, a Metering that is down."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from services.router.providers.demo import model as demo
from services.router.recorder import UsageRecorder, spool_name
from tollgate.tokens import count_chat_prompt, count_text
from tollgate.v1 import common_pb2, metering_pb2
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import (
    FakeMetering,
    eventually,
    free_port,
    make_settings,
    openai_provider,
    run,
    running_router,
    spooled,
)

LONG = "word " * 40  # a reply of about 50 tokens
MESSAGES = [{"role": "user", "content": LONG}]
PARTIAL = metering_pb2.CALL_STATUS_PARTIAL
ESTIMATED = common_pb2.USAGE_SOURCE_ESTIMATED
PROVIDER = common_pb2.USAGE_SOURCE_PROVIDER

Upstreams = Callable[..., MockUpstream]


def test_client_cancel_mid_stream_closes_upstream_and_records_partial(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams(token_delay_ms=40)
    settings = make_settings(tmp_path, metering.addr, [openai_provider(upstream, ["gpt-test"])])
    full_reply = demo.completion({"messages": MESSAGES}, "demo")["usage"]["completion_tokens"]

    async def scenario() -> None:
        async with running_router(settings) as router:
            body = {"model": "gpt-test", "messages": MESSAGES, "stream": True}
            request = router.request(body, prompt_tokens_estimate=77)
            call = router.stub.ChatCompletion(request)
            seen = []
            async for event in call:
                if event.WhichOneof("event") != "chunk":
                    continue  # the Served event before the first chunk
                seen.append(json.loads(event.chunk))
                if len(seen) == 4:
                    call.cancel()
                    break
            started = time.monotonic()
            # The router closed the upstream response: the mock saw its stream aborted.
            await eventually(lambda: upstream.state.streams.aborted == 1, what="upstream abort")
            assert time.monotonic() - started < 1.0
            assert upstream.state.streams.finished == 0
            record = await metering.one(request.request_id)
            assert record.status == PARTIAL and record.usage_source == ESTIMATED
            assert record.usage.prompt_tokens == 77
            # Billed for what the router saw generated: at least what we got, not all.
            got = "".join(c["choices"][0]["delta"].get("content") or "" for c in seen)
            assert count_text(got, "gpt-test") <= record.usage.completion_tokens < full_reply
        metering.assert_each_once()

    run(scenario())


def test_cancel_of_a_demo_stream_records_partial(tmp_path: Path, metering: FakeMetering) -> None:
    settings = make_settings(tmp_path, metering.addr, [{"name": "builtin", "kind": "demo"}])

    async def scenario() -> None:
        async with running_router(settings) as router:
            body = {"model": "demo", "messages": MESSAGES, "stream": True}
            request = router.request(body)
            call = router.stub.ChatCompletion(request)
            async for _ in call:
                call.cancel()
                break
            record = await metering.one(request.request_id)
            assert record.status == PARTIAL and record.provider == "builtin"
            assert record.usage.prompt_tokens == count_chat_prompt(MESSAGES, "demo")
        metering.assert_each_once()

    run(scenario())


def test_demo_provider_serves_and_reports_usage(tmp_path: Path, metering: FakeMetering) -> None:
    settings = make_settings(tmp_path, metering.addr, [{"name": "builtin", "kind": "demo"}])

    async def scenario() -> None:
        async with running_router(settings) as router:
            plain = router.request({"model": "demo", "messages": MESSAGES})
            response = (await router.call(plain)).responses[0]
            body = {"model": "demo", "messages": MESSAGES, "stream": True}
            streamed = router.request(body)
            events = await router.call(streamed)
            assert events.content == response["choices"][0]["message"]["content"]
            assert all("usage" not in c for c in events.chunks)
            for request in (plain, streamed):
                record = await metering.one(request.request_id)
                assert record.usage_source == PROVIDER
                assert record.usage.prompt_tokens == response["usage"]["prompt_tokens"]
                assert record.usage.completion_tokens == response["usage"]["completion_tokens"]
        metering.assert_each_once()

    run(scenario())


def test_upstream_breaking_mid_stream_is_an_error_event_and_partial(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams(break_after_chunks=5)
    settings = make_settings(tmp_path, metering.addr, [openai_provider(upstream, ["gpt-test"])])

    async def scenario() -> None:
        async with running_router(settings) as router:
            body = {"model": "gpt-test", "messages": MESSAGES, "stream": True}
            request = router.request(body, prompt_tokens_estimate=60)
            events = await router.call(request)
            assert len(events.chunks) == 5
            (error,) = events.errors
            assert (error.http_status, error.code) == (502, "upstream_error")
            record = await metering.one(request.request_id)
            assert (record.status, record.usage_source) == (PARTIAL, ESTIMATED)
            assert record.usage == common_pb2.Usage(
                prompt_tokens=60, completion_tokens=count_text(events.content, "gpt-test")
            )
        metering.assert_each_once()

    run(scenario())


def test_records_wait_in_the_spool_while_metering_is_down(
    tmp_path: Path, upstreams: Upstreams
) -> None:
    upstream = upstreams()
    port = free_port()
    settings = make_settings(
        tmp_path, f"127.0.0.1:{port}", [openai_provider(upstream, ["gpt-test"])]
    )
    metering = FakeMetering()

    async def scenario() -> None:
        async with running_router(settings) as router:
            request = router.request({"model": "gpt-test", "messages": MESSAGES})
            assert not (await router.call(request)).errors
            (path,) = spooled(settings)
            assert path.name == spool_name(request.request_id)
            stored = metering_pb2.UsageRecord.FromString(path.read_bytes())
            assert stored.request_id == request.request_id and stored.usage.prompt_tokens > 0
            await asyncio.sleep(0.3)  # a few failed attempts
            metering.start(port)
            record = await metering.one(request.request_id, timeout=10)
            assert record == stored
            await eventually(lambda: spooled(settings) == [], what="spool emptied")

    try:
        run(scenario())
    finally:
        metering.stop()


def test_a_crashed_routers_spool_is_swept_on_start(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams
) -> None:
    settings = make_settings(tmp_path, metering.addr, [{"name": "builtin", "kind": "demo"}])
    settings.spool_dir.mkdir(parents=True)
    old = metering_pb2.UsageRecord(request_id="req-from-before", model_requested="demo")
    young = metering_pb2.UsageRecord(request_id="req-of-a-live-replica")
    for record in (old, young):
        (settings.spool_dir / spool_name(record.request_id)).write_bytes(record.SerializeToString())
    an_hour_ago = time.time() - 3600
    os.utime(settings.spool_dir / spool_name(old.request_id), (an_hour_ago, an_hour_ago))
    (settings.spool_dir / "garbage.rec").write_bytes(b"\xff\xff not a record")
    os.utime(settings.spool_dir / "garbage.rec", (an_hour_ago, an_hour_ago))

    async def scenario() -> None:
        async with running_router(settings):
            assert await metering.one(old.request_id) == old
            await eventually(lambda: len(spooled(settings)) == 1, what="old record removed")
            # A fresh file may be another replica's, in flight: left alone.
            assert [p.name for p in spooled(settings)] == [spool_name(young.request_id)]
            assert (settings.spool_dir / "garbage.rec.bad").exists()
        assert metering.of(young.request_id) == []

    run(scenario())


def test_delivery_retries_until_metering_accepts(tmp_path: Path, metering: FakeMetering) -> None:
    metering.fail_next = 3
    record = metering_pb2.UsageRecord(request_id="req-retried")

    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path / "spool", metering.addr, backoff_initial=0.01)
        await recorder.start()
        recorder.put(record)
        assert (tmp_path / "spool" / "req-retried.rec").exists()
        assert await metering.one("req-retried") == record
        await eventually(lambda: recorder.pending == 0, what="delivery finished")
        assert list((tmp_path / "spool").iterdir()) == []
        await recorder.close()
        assert metering.fail_next == 0

    run(scenario())


def test_close_leaves_undelivered_records_in_the_spool(tmp_path: Path) -> None:
    async def scenario() -> None:
        recorder = UsageRecorder(tmp_path, f"127.0.0.1:{free_port()}")
        await recorder.start()
        recorder.put(metering_pb2.UsageRecord(request_id="a/b c"))  # not a safe file name
        await recorder.close(timeout=0.1)
        (path,) = tmp_path.glob("*.rec")
        assert path.name == spool_name("a/b c") and "/" not in path.name[:-4]
        assert metering_pb2.UsageRecord.FromString(path.read_bytes()).request_id == "a/b c"

    run(scenario())


def test_router_rpc_survives_cancel_before_any_output(
    tmp_path: Path, metering: FakeMetering, upstreams: Upstreams
) -> None:
    upstream = upstreams(latency_ms=600)
    settings = make_settings(tmp_path, metering.addr, [openai_provider(upstream, ["gpt-test"])])

    def arrived(n: int) -> Callable[[], bool]:
        return lambda: len(upstream.app.state.requests) == n

    async def scenario() -> None:
        async with running_router(settings) as router:
            for stream in (False, True):
                body = {"model": "gpt-test", "messages": MESSAGES, "stream": stream}
                request = router.request(body, prompt_tokens_estimate=5)
                call = router.stub.ChatCompletion(request)
                await eventually(arrived(1 + stream), what="the upstream call")
                call.cancel()
                assert (await call.code()) == grpc.StatusCode.CANCELLED
                record = await metering.one(request.request_id)
                assert record.status == PARTIAL
                assert record.usage == common_pb2.Usage(prompt_tokens=5)
        metering.assert_each_once()

    run(scenario())
