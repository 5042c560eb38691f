"""The bench's figures: one row per target and concurrency, the issue's targets met or
missed beside them, and (with --compare) the ratios between two builds."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from loadgen import Stats
from measure import DIRECT_OF, Bench, Measured
from procs import SUPERVISOR

# Hosts of several services (`tollgate serve all|front|back`, tollgate up's modes): all
# four; front, gateway and router; back, budget and metering.
SERVICE_ORDER = ("gateway", "router", "budget", "metering", "all", "front", "back", SUPERVISOR)
SHORT = {
    "gateway": "gw",
    "router": "rt",
    "budget": "bu",
    "metering": "me",
    "all": "all",
    "front": "fr",
    "back": "bk",
    SUPERVISOR: "up",
}
# The targets (ms): suite CPU per call, and added p50 at concurrency 1.
CPU_TARGET_MS = {"plain": 2.0, "budgeted": 2.5, "stream": 3.0}
ADDED_P50_TARGET_MS = {"plain": 2.0, "budgeted": 2.5, "stream": 3.0}
P99_OVER_P50_MAX = 3.0
RSS_TARGET_MB = 400.0


@dataclass(frozen=True)
class Row:
    label: str  # the suite's ("" without --compare; "" for the upstream too)
    concurrency: int
    kind: str  # plain, budgeted, stream, direct, direct-stream
    stats: Stats
    added_p50_ms: float  # minus the matching direct target's; nan for a direct row
    added_p99_ms: float
    cpu_ms_per_call: dict[str, float]  # by service; empty for a direct row

    @property
    def suite_cpu_ms(self) -> float:
        return sum(self.cpu_ms_per_call.values()) if self.cpu_ms_per_call else math.nan

    def verdicts(self) -> dict[str, bool]:
        """Each target that applies to this row: met (True) or missed."""
        if self.kind not in CPU_TARGET_MS:
            return {}
        out = {f"cpu<={CPU_TARGET_MS[self.kind]:g}": self.suite_cpu_ms <= CPU_TARGET_MS[self.kind]}
        if self.concurrency == 1:
            limit = ADDED_P50_TARGET_MS[self.kind]
            out[f"added p50<={limit:g}"] = self.added_p50_ms <= limit
        out["p99<=3xp50"] = self.stats.p99 <= P99_OVER_P50_MAX * self.stats.p50
        return out


def rows(concurrency: int, benches: list[Bench], measured: list[Measured]) -> list[Row]:
    direct = {b.kind: m for b, m in zip(benches, measured, strict=True) if b.suite is None}
    direct_stats = {kind: Stats.of(m.sample) for kind, m in direct.items()}
    out = []
    for bench, m in zip(benches, measured, strict=True):
        stats = Stats.of(m.sample)
        base = direct_stats.get(DIRECT_OF[bench.kind]) if bench.suite else None
        calls = m.sample.timed
        cpu = {k: v * 1000 / calls for k, v in m.cpu_s.items()} if calls and bench.suite else {}
        out.append(
            Row(
                bench.label,
                concurrency,
                bench.kind.name,
                stats,
                stats.p50 - base.p50 if base else math.nan,
                stats.p99 - base.p99 if base else math.nan,
                cpu,
            )
        )
    return out


def print_rows(all_rows: list[Row]) -> None:
    services = " ".join(f"{SHORT[s]:>5}" for s in SERVICE_ORDER)
    print(
        f"\n{'c':>3} {'target':<16}{'calls/s':>8}{'p50':>8}{'p90':>8}{'p99':>8} |"
        f"{'+p50':>7}{'+p99':>8} | {'CPU/call':>8} = {services} | targets"
    )
    for r in all_rows:
        name = f"{r.kind}{'@' + r.label if r.label else ''}"
        s = r.stats
        line = (
            f"{r.concurrency:>3} {name:<16}{s.rps:>8.0f}{s.p50:>8.2f}{s.p90:>8.2f}{s.p99:>8.2f} |"
        )
        if not r.cpu_ms_per_call:
            print(line)
            continue
        parts = " ".join(f"{r.cpu_ms_per_call.get(n, 0.0):>5.2f}" for n in SERVICE_ORDER)
        verdicts = ", ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in r.verdicts().items())
        line += (
            f"{r.added_p50_ms:>7.2f}{r.added_p99_ms:>8.2f} | {r.suite_cpu_ms:>8.2f} = {parts} | "
        )
        print(line + verdicts)
    print(
        "latency in ms to the last byte; +p50/+p99 = minus the upstream alone (direct);\n"
        "CPU/call = the suite's user+sys CPU ms per call (gw gateway, rt router, bu budget,\n"
        "me metering; all the four in one process, fr gateway+router, bk budget+metering;\n"
        "up the `tollgate up` supervisor), settling included"
    )


def rss_mb(rss: dict[str, int]) -> dict[str, float]:
    return {name: n / 2**20 for name, n in rss.items()}


def print_rss(label: str, rss: dict[str, int]) -> bool:
    """Prints the suite's RSS per service; True when the total is under the target."""
    mb = rss_mb(rss)
    total = sum(mb.values())
    parts = ", ".join(f"{n} {mb.get(n, 0.0):.0f}" for n in SERVICE_ORDER)
    met = total < RSS_TARGET_MB
    verdict = "met" if met else "MISSED"
    where = f" of {label}" if label else ""
    print(
        f"RSS{where} after the run: {total:.0f} MB ({parts}); "
        f"target < {RSS_TARGET_MB:g} MB: {verdict}"
    )
    return met


def print_ratios(all_rows: list[Row], new: str, old: str) -> None:
    """`new`/`old` for each gateway target and concurrency both builds ran."""
    by = {(r.label, r.concurrency, r.kind): r for r in all_rows}
    print(f"\n{new} / {old}:{'':<6}{'calls/s':>8}{'p50':>7}{'p99':>7}{'CPU/call':>9}")
    for (label, c, kind), r in by.items():
        o = by.get((old, c, kind))
        if label != new or o is None:
            continue
        ratios = (
            r.stats.rps / o.stats.rps if o.stats.rps else math.nan,
            r.stats.p50 / o.stats.p50,
            r.stats.p99 / o.stats.p99,
            r.suite_cpu_ms / o.suite_cpu_ms if o.suite_cpu_ms else math.nan,
        )
        print(f"  c={c:<3}{kind:<15}" + "".join(f"{x:>8.2f}" for x in ratios))


def row_json(r: Row) -> dict[str, Any]:
    return {
        **{k: v for k, v in asdict(r).items() if k != "stats"},
        **asdict(r.stats),
        "suite_cpu_ms_per_call": r.suite_cpu_ms,
        "targets": r.verdicts(),
    }
