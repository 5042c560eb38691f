"""What durable open calls add to each router call: the open file written before the
upstream request and removed when the final record is spooled (and, for streams, a
counter per chunk). Compares `put` alone with `open` + `put`, on the same disk.

    .venv/bin/python bench/open_calls.py [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from services.router.recorder import UsageRecorder
from tollgate.v1 import common_pb2, metering_pb2


def _record(i: int) -> metering_pb2.UsageRecord:
    return metering_pb2.UsageRecord(
        request_id=f"req_{i:032x}",
        caller=common_pb2.Caller(project_id="prj_0123456789abcdef", key_id="key_0123456789ab"),
        model_requested="gpt-4o-mini",
        model_served="gpt-4o-mini",
        provider="openai",
        usage=common_pb2.Usage(prompt_tokens=1200, completion_tokens=300),
        status=metering_pb2.CALL_STATUS_OK,
        http_status=200,
    )


def _run(spool: Path, calls: int, *, opened: bool) -> list[float]:
    # Not started: records stay in the spool, so only the files are timed.
    recorder = UsageRecorder(spool, "127.0.0.1:1")
    spool.mkdir(parents=True, exist_ok=True)
    times = []
    for i in range(calls):
        record = _record(i)
        interrupted = metering_pb2.UsageRecord()
        interrupted.CopyFrom(record)
        interrupted.status = metering_pb2.CALL_STATUS_INTERRUPTED
        started = time.perf_counter()
        if opened:
            call = recorder.open(record.request_id, lambda r=interrupted: r)
            for _ in range(50):  # a 50-chunk stream
                call.advance()
        recorder.put(record)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()

    async def go() -> None:
        base: list[float] = []
        durable: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            # Alternating rounds, so a busy machine weighs on both alike.
            for round_ in range(10):
                base += _run(Path(tmp) / f"a{round_}", args.calls // 10, opened=False)
                durable += _run(Path(tmp) / f"b{round_}", args.calls // 10, opened=True)
        for name, times in (("put only", base), ("open + put", durable)):
            us = sorted(t * 1e6 for t in times)
            print(
                f"{name:>11}: median {statistics.median(us):6.1f} us, "
                f"p99 {us[int(len(us) * 0.99)]:6.1f} us per call"
            )
        added = statistics.median(durable) - statistics.median(base)
        print(f"added per call (median): {added * 1e6:.1f} us")

    asyncio.run(go())


if __name__ == "__main__":
    main()
