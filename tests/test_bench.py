"""The bench's measuring parts, unit-level (no suite): reading wrk's output (and wrk
itself against a tiny local server, when it is installed), the CPU and RSS accounting
from /proc, merging distributions, and the targets' verdicts."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import soak  # noqa: E402
import spy  # noqa: E402
import wrk  # noqa: E402

WRK_STDOUT = """Running 2s test @ http://127.0.0.1:1/v1/chat/completions
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   120.00us   10.00us   1.00ms   90.00%
  1000 requests in 2.00s, 1.00MB read
{line}
Requests/sec:    500.00
"""


def wrk_line(
    requests: int, status: int = 0, read: int = 0, quantiles: list[float] | None = None
) -> str:
    data = {
        "requests": requests,
        "duration_us": 2_000_000,
        "connect": 0,
        "read": read,
        "write": 0,
        "status": status,
        "timeout": 0,
        "quantiles_us": quantiles or [float(i) for i in range(1, 1000)],  # 1..999 us
    }
    return "WRK_JSON " + json.dumps(data)


def test_wrk_output_gives_counts_rate_and_percentiles() -> None:
    sample = wrk.parse(WRK_STDOUT.format(line=wrk_line(1000)))
    assert (sample.errors, sample.timed, sample.seconds) == (0, 1000, 2.0)
    stats = loadgen.Stats.of(sample)
    assert stats.requests == 1000 and stats.rps == pytest.approx(500.0)
    # The quantile at 0.1*i % is i us, so p50 is 0.5 ms and p99 0.99 ms.
    assert stats.p50 == pytest.approx(0.5)
    assert stats.p90 == pytest.approx(0.9)
    assert stats.p99 == pytest.approx(0.99)


def test_wrk_non_2xx_and_socket_errors_make_errors() -> None:
    sample = wrk.parse(WRK_STDOUT.format(line=wrk_line(1000, status=7, read=2)))
    assert sample.errors == 9
    assert sample.timed == 993  # the non-2xx answers are not successful calls
    assert any("status above 399" in e for e in sample.error_examples)
    assert any("'read': 2" in e for e in sample.error_examples)


def test_wrk_output_without_the_json_line_is_refused() -> None:
    with pytest.raises(ValueError, match="WRK_JSON"):
        wrk.parse(WRK_STDOUT.format(line=""))


def test_rounds_merge_by_weight() -> None:
    fast = wrk.parse(WRK_STDOUT.format(line=wrk_line(900, quantiles=[1000.0] * 999)))
    slow = wrk.parse(WRK_STDOUT.format(line=wrk_line(100, quantiles=[5000.0] * 999)))
    merged = loadgen.Sample()
    merged.add(fast)
    merged.add(slow)
    stats = loadgen.Stats.of(merged)
    assert stats.requests == 1000 and stats.rps == pytest.approx(250.0)
    assert stats.p50 == 1.0 and stats.p90 == 1.0 and stats.p99 == 5.0  # 10 % are slow


def test_lua_strings_escape_what_lua_would_read() -> None:
    assert wrk.lua_string('a"b\\c\né') == '"a\\034b\\092c\\010\\195\\169"'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 200
    seen: list[tuple[str, str | None, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["content-length"]))
        self.seen.append((self.command, self.headers.get("authorization"), body))
        reply = b'{"ok":true}'
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"seen": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.parametrize("status", [200, 429])
def test_wrk_posts_the_body_with_the_key_and_counts_failures(
    http_server: tuple[str, type[_Handler]], tmp_path: Path, status: int
) -> None:
    url, handler = http_server
    handler.status = status
    target = loadgen.Target(
        "t", url, {"content-type": "application/json", "authorization": "Bearer k-1"}
    )
    body = loadgen.chat_body("gpt-4o-mini", stream=False)
    sample = wrk.run(str(shutil.which("wrk")), tmp_path, target, body, concurrency=1, seconds=1)
    assert handler.seen, "wrk sent nothing"
    assert {s[:2] for s in handler.seen} == {("POST", "Bearer k-1")}
    assert {s[2] for s in handler.seen} == {body}
    answered = sample.timed + (sample.errors if status != 200 else 0)
    assert 0 < answered <= len(handler.seen)
    if status == 200:
        assert sample.errors == 0 and sample.timed > 0
        assert 0 < loadgen.Stats.of(sample).p50 < 1000
    else:
        assert sample.timed == 0 and sample.errors > 0


def test_stat_parsing_survives_odd_command_names() -> None:
    fields = ["S", "42"] + ["0"] * 9 + ["300", "100", "50", "50"] + ["0"] * 30
    text = "123 (a) (b c) " + " ".join(fields)
    ppid, cpu = procs.parse_stat(text)
    assert ppid == 42
    assert cpu == pytest.approx(500 / procs.TICKS)
    assert procs.parse_rss("Name:\tx\nVmRSS:\t  2048 kB\n") == 2048 * 1024
    assert procs.parse_rss("Name:\tkworker\n") == 0


BURN = """
import sys, time, subprocess
if sys.argv[-1] == "gateway":
    burn = "import time\\nend = time.process_time() + 0.4\\n"
    burn += "while time.process_time() < end: pass\\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", burn])
    blob = bytearray(64 * 2**20)  # 64 MB resident
    for i in range(0, len(blob), 4096): blob[i] = 1
    print("ready", flush=True)
    time.sleep(30)
"""


def test_snapshots_charge_cpu_and_rss_to_the_service_a_process_descends_from() -> None:
    """A fake `tollgate up`: this test's process tree, with a `tollgate serve gateway`
    process whose child burns 0.4 s of CPU; the child's CPU counts for `gateway`."""
    service = subprocess.Popen(
        [sys.executable, "-c", BURN, "tollgate", "serve", "gateway"], stdout=subprocess.PIPE
    )
    try:
        assert service.stdout is not None and service.stdout.readline() == b"ready\n"
        root = procs.read_proc(service.pid)
        assert root is not None and procs.service_name(root.cmdline) == "gateway"
        before = procs.Snapshot.take(service.pid)
        deadline = time.monotonic() + 30  # the machine may be busy: wait for the burn
        while True:
            time.sleep(0.2)
            after = procs.Snapshot.take(service.pid)
            used = after.cpu_since(before)
            if used.get("gateway", 0.0) >= 0.3 or time.monotonic() > deadline:
                break
        assert len(after.names) == 2 and set(after.names.values()) == {"gateway"}
        assert set(used) == {"gateway"}
        assert 0.3 <= used["gateway"] <= 0.6  # the child's burn; the parent only sleeps
        assert after.rss_by_service()["gateway"] >= 64 * 2**20
    finally:
        for pid in procs.tree(service.pid, procs.all_procs()):
            if pid != service.pid:
                subprocess.run(["kill", str(pid)], check=False)
        service.kill()
        service.wait()


def test_a_tree_names_the_supervisor_and_each_service() -> None:
    def proc(pid: int, ppid: int, *cmd: str) -> procs.Proc:
        return procs.Proc(pid, ppid, 0.0, 0, cmd)

    table = {
        1: proc(1, 0, "init"),
        10: proc(10, 1, "python", "tollgate", "up"),
        11: proc(11, 10, "python", "-m", "tollgate", "serve", "router"),
        12: proc(12, 11, "python", "-c", "worker"),
        13: proc(13, 10, "python", "-m", "tollgate", "serve", "budget"),
        20: proc(20, 1, "nginx"),
    }
    assert procs.tree(10, table) == {10: "supervisor", 11: "router", 12: "router", 13: "budget"}
    assert procs.tree(99, table) == {}


def _row(
    kind: str, concurrency: int, p50: float, p99: float, added: float, cpu: float
) -> report.Row:
    stats = loadgen.Stats(100, 0, 50.0, p50, p50, p99)
    return report.Row(
        "", concurrency, kind, stats, added, added, {"gateway": cpu / 2, "router": cpu / 2}
    )


def test_targets_are_met_or_missed_per_kind() -> None:
    assert report.row_json(_row("plain", 1, 3.0, 9.0, 2.0, 2.0))["targets"] == {
        "cpu<=2": True,
        "added p50<=2": True,
        "p99<=3xp50": True,
    }
    missed = _row("budgeted", 1, 3.0, 9.1, 2.6, 2.6).verdicts()
    assert missed == {"cpu<=2.5": False, "added p50<=2.5": False, "p99<=3xp50": False}
    assert _row("stream", 32, 3.0, 4.0, 50.0, 2.9).verdicts() == {
        "cpu<=3": True,
        "p99<=3xp50": True,
    }
    direct = report.Row("", 1, "direct", loadgen.Stats(1, 0, 1.0, 1, 1, 1), math.nan, math.nan, {})
    assert direct.verdicts() == {} and math.isnan(direct.suite_cpu_ms)


def test_own_time_counts_leaf_functions_of_collapsed_stacks() -> None:
    collapsed = "\n".join(
        [
            "m (a.py:1);serve (/v/site-packages/grpc/_server.py:10);loads (json/decoder.py:3) 30",
            "m (a.py:1);serve (/v/site-packages/grpc/_server.py:12) 50",
            "m (a.py:1);handle (/work/main/services/gateway/app.py:9);loads (json/decoder.py:5) 20",
            "garbage line",
        ]
    )
    leaves, total = spy.own_time(collapsed)
    assert total == 100
    assert leaves == {"serve (grpc/_server.py)": 50, "loads (json/decoder.py)": 50}


def _minutes(totals: list[float], calls: int = 6_000) -> list[soak.Minute]:
    return [
        soak.Minute(i + 1, calls, 0, {"front": t - 100.0, "back": 100.0})
        for i, t in enumerate(totals)
    ]


def test_a_soak_is_flat_when_the_second_half_does_not_grow() -> None:
    found = soak.verdicts(_minutes([280, 295, 298, 299, 300, 300, 301, 300, 302, 301]), 5.0)
    assert found["calls"] == 60_000
    assert found["rss_after_20000_mb"] == 299.0  # the fourth minute reached 20,000 calls
    assert found["rss_met"] and found["flat"]
    assert found["second_half_growth_mb"] == 1.0  # minute 10 against minute 5
    assert found["peak_mb"] == 302.0


def test_a_soak_that_keeps_growing_or_is_too_short_misses() -> None:
    growing = soak.verdicts(_minutes([300, 310, 320, 330, 340, 350, 360, 370, 380, 390]), 5.0)
    assert not growing["flat"] and growing["second_half_growth_mb"] == 50.0
    assert growing["rss_met"]  # 330 MB after 20,000 calls, though it grows
    short = soak.verdicts(_minutes([300, 300], calls=1_000), 5.0)
    assert short["rss_after_20000_mb"] is None and not short["rss_met"]
    over = soak.verdicts(_minutes([300, 450, 450], calls=10_000), 5.0)
    assert over["rss_after_20000_mb"] == 450.0 and over["rss_met"] is False
