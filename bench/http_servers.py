"""What the HTTP server costs a call: the gateway's server (uvicorn's httptools protocol
with tollgate's guards, on uvloop) against granian, each serving one small ASGI app
that reads the request body and answers the upstream's fixed completion.

Each server runs in its own process tree; wrk sends the bench's chat request at each
concurrency, the servers in alternating rounds. Printed per server: calls/s, p50 and
p99 in ms, and the server's CPU per call in ms (user+sys of its whole process tree,
from /proc), with the ratio of each to the gateway's server. Only the server and the
ASGI handshake are measured: no tollgate middleware, no upstream call.

    apt-get install -y wrk; .venv/bin/pip install granian
    .venv/bin/python bench/http_servers.py [--duration 5] [--rounds 2] [--concurrency 1,32]

Without granian installed it measures the gateway's server alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import procs  # noqa: E402
import wrk  # noqa: E402
from loadgen import Sample, Stats, Target  # noqa: E402
from suite import free_port  # noqa: E402
from upstream import completion_body  # noqa: E402

ANSWER = completion_body().encode()
REQUEST = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in five words."}]}
).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI app both servers serve: read the body whole, answer the completion."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(ANSWER)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


def serve_gateway_server(port: int) -> None:
    """uvicorn as services/gateway/main.py configures it."""
    import uvicorn

    from services.gateway.http_server import HttpLimits, protocol_for

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=protocol_for(HttpLimits()),
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    uvicorn.Server(config).run()


@dataclass(frozen=True)
class Server:
    name: str
    argv: list[str]


def servers(port: int) -> list[Server]:
    python = sys.executable
    found = [Server("gateway's (uvicorn+httptools)", [python, __file__, "--serve", str(port)])]
    granian = shutil.which("granian", path=str(Path(python).parent)) or shutil.which("granian")
    if granian:
        argv = [granian, "--interface", "asgi", "--http", "1", "--workers", "1", "--loop"]
        argv += ["uvloop", "--no-ws", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--working-dir", str(HERE), "--log-level", "warning", "http_servers:app"]
        found.append(Server("granian (asgi, 1 worker)", argv))
    return found


@contextmanager
def running(server: Server, port: int, home: Path) -> Iterator[int]:
    log = (home / f"{server.argv[0].rsplit('/', 1)[-1]}.log").open("wb")
    process = subprocess.Popen(server.argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{server.name} did not start; see {log.name}")
            time.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _answers(port: int) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("POST", "/v1/chat/completions", REQUEST)
        ok = conn.getresponse().read() == ANSWER
        conn.close()
        return ok
    except OSError:
        return False


def tree_cpu(pid: int) -> float:
    every = procs.all_procs()
    return sum(every[p].cpu_s for p in procs.tree(pid, every) if p in every)


def measure(
    binary: str, home: Path, port: int, pid: int, concurrency: int, seconds: float
) -> tuple[Sample, float]:
    target = Target("server", f"http://127.0.0.1:{port}/v1/chat/completions", {})
    wrk.run(binary, home, target, REQUEST, concurrency, 1)  # warm up
    before = tree_cpu(pid)
    sample: Sample = wrk.run(binary, home, target, REQUEST, concurrency, seconds)
    return sample, tree_cpu(pid) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_gateway_server(args.serve)
        return
    binary = wrk.find_wrk()
    if binary is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory(prefix="tg-http-") as tmp:
        home = Path(tmp)
        results: dict[tuple[str, int], tuple[Sample, float]] = {}
        for _ in range(args.rounds):
            for index in range(len(servers(0))):
                port = free_port()
                server = servers(port)[index]
                with running(server, port, home) as pid:
                    for c in levels:
                        sample, cpu = measure(binary, home, port, pid, c, args.duration)
                        total, spent = results.setdefault((server.name, c), (Sample(), 0.0))
                        total.add(sample)
                        results[(server.name, c)] = (total, spent + cpu)
        report(results, levels)


def report(results: dict[tuple[str, int], tuple[Sample, float]], levels: list[int]) -> None:
    names = list(dict.fromkeys(name for name, _ in results))
    print(f"{'c':>3} {'server':<32} {'calls/s':>8} {'p50':>7} {'p99':>7} {'CPU/call ms':>12}")
    for c in levels:
        base = None
        for name in names:
            sample, cpu = results[(name, c)]
            stats = Stats.of(sample)
            per_call = cpu / sample.timed * 1000 if sample.timed else float("nan")
            figures = (stats.rps, stats.p50, stats.p99, per_call)
            base = base or figures
            ratio = (
                ""
                if figures is base
                else "  ("
                + " ".join(f"{x / b:.2f}x" for x, b in zip(figures, base, strict=True))
                + " of the gateway's)"
            )
            print(
                f"{c:>3} {name:<32} {stats.rps:>8.0f} {stats.p50:>7.2f} {stats.p99:>7.2f}"
                f" {per_call:>12.3f}{ratio}"
            )
            if sample.errors:
                print(f"    errors: {sample.errors} {sample.error_examples}")


if __name__ == "__main__":
    main()
