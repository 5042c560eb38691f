"""Benchmark: how long `tollgate` takes to start and answer, as a user runs it.

Runs each command N times as a fresh process (the way a shell runs it) and prints the
min and median wall time, then the modules that cost most to import for each
(`python -X importtime`, cumulative). Targets (issue 10): `--help` under 0.3 s, a
plain command under 0.6 s. Commands that need the suite run against nothing and fail
fast (a health check says "unreachable", Budget's commands say it is not reachable):
what is measured is the CLI's own start, not a service's answer.

    .venv/bin/python bench/cli_startup.py [--runs 10] [--top 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (
    ("--help",),
    ("price", "--help"),
    ("health", "budget"),
    ("project", "list"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(home: Path) -> dict[str, str]:
    """A state folder of its own, and every service at an address nothing serves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env["TOLLGATE_HOME"] = str(home)
    for name in ("gateway", "router", "metering", "budget"):
        env[f"TOLLGATE_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    return env


def timed(argv: tuple[str, ...], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tollgate", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def import_costs(argv: tuple[str, ...], env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """The top-level imports that cost most (cumulative microseconds, module)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tollgate", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    costs = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if cumulative.isdigit() and "." not in name.strip():
            costs.append((int(cumulative), name.strip()))
    return sorted(costs, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=8, help="import costs shown per command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-cli-bench-") as folder:
        env = environment(Path(folder))
        subprocess.run(
            [sys.executable, "-m", "tollgate", "db", "upgrade"],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        python = min(_python_start(env) for _ in range(args.runs))
        print(f"python itself starts in {python:.3f} s (min of {args.runs})")
        print(f"{'command':<28} {'min s':>7} {'median s':>9}")
        for argv in COMMANDS:
            times = [timed(argv, env) for _ in range(args.runs)]
            label = "tollgate " + " ".join(argv)
            print(f"{label:<28} {min(times):>7.3f} {statistics.median(times):>9.3f}")
        for argv in COMMANDS:
            print(f"\nlargest imports of `tollgate {' '.join(argv)}` (cumulative ms):")
            for micros, name in import_costs(argv, env, args.top):
                print(f"  {micros / 1000:>8.1f}  {name}")


def _python_start(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=False)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
