"""--profile DIR: where each service spends its CPU, by py-spy (`pip install py-spy`).

While the `plain` target runs at the highest concurrency, `py-spy record --pid` samples
every service process (`--nonblocking`: the service is never paused; `--gil`: only the
thread holding the GIL, so Python's own work), writing collapsed stacks
(`DIR/<service>-<pid>.txt`, one `frame;frame;... count` line per stack). A function's
*own* time is the share of samples where it is the leaf; without native frames, time
in C (uvloop's loop, grpc's core, the json codec) counts for the Python function that
called it. BENCH_PY_SPY_ARGS replaces DEFAULT_ARGS: "--nonblocking" samples every
thread that looks busy, "--gil --native" adds C frames (py-spy then pauses the
process at each sample).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from procs import SUPERVISOR, Snapshot
from suite import BenchError

RATE = 200  # samples a second
# Only the thread holding the GIL: without --gil, threads parked in C (a pool's idle
# workers, grpc's pollers) show as busy on a loaded machine and crowd the top.
DEFAULT_ARGS = "--nonblocking --gil"


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def own_time(collapsed: str) -> tuple[Counter[str], int]:
    """Samples by leaf function (`name (file)`, the line number dropped), and the total."""
    leaves: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        name, _, where = leaf.partition(" (")
        file = where.rsplit(":", 1)[0] if ":" in where else where.rstrip(")")
        leaves[f"{name} ({shorten(file)})"] += int(count)
        total += int(count)
    return leaves, total


def shorten(file: str) -> str:
    for mark in ("site-packages/", "/work/main/", "/tree/"):
        if mark in file:
            return file.split(mark, 1)[1]
    return file


def start(py_spy: str, up_pid: int, out: Path, seconds: int) -> list[subprocess.Popen[bytes]]:
    """One py-spy per service process under `up_pid`, recording for `seconds`."""
    out.mkdir(parents=True, exist_ok=True)
    snapshot = Snapshot.take(up_pid)
    started = []
    for pid, name in snapshot.names.items():
        if name == SUPERVISOR:
            continue
        argv = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate"]
        argv += [str(RATE), "--format", "raw", "-o", str(out / f"{name}-{pid}.txt")]
        argv += os.environ.get("BENCH_PY_SPY_ARGS", DEFAULT_ARGS).split()
        started.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if not started:
        raise BenchError("no service process to profile")
    return started


def wait(recorders: list[subprocess.Popen[bytes]], timeout: float) -> None:
    for recorder in recorders:
        try:
            recorder.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            recorder.kill()  # one of ours, by its own handle
            recorder.wait()


def summary(out: Path, top: int = 5) -> str:
    """The top functions by own time of each service, from the files in `out`."""
    by_service: dict[str, tuple[Counter[str], int]] = {}
    for file in sorted(out.glob("*.txt")):
        service = file.stem.rsplit("-", 1)[0]
        leaves, total = own_time(file.read_text(errors="replace"))
        had, had_total = by_service.get(service, (Counter(), 0))
        by_service[service] = (had + leaves, had_total + total)
    lines = []
    for service, (leaves, total) in by_service.items():
        lines.append(f"{service}: {total} samples at {RATE}/s")
        for name, count in leaves.most_common(top):
            lines.append(f"  {100 * count / total:5.1f} %  {name}")
    return "\n".join(lines)
