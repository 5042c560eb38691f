"""What the suite's processes cost: CPU time and resident memory, read from /proc.

`tollgate up` starts one `python -m tollgate serve <service>` per service; each service
(and `up` itself) may start children. A process counts for the service whose `serve`
process it descends from; `up` and anything outside a service counts as "supervisor".
CPU is user+sys (utime+stime of /proc/<pid>/stat, plus cutime+cstime: children it has
already reaped), in seconds; RSS is VmRSS of /proc/<pid>/status, in bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cpu_s: float  # utime+stime+cutime+cstime
    rss_bytes: int
    cmdline: tuple[str, ...]


def parse_stat(text: str) -> tuple[int, float]:
    """(ppid, CPU seconds) from the text of /proc/<pid>/stat. The command name (field 2)
    is in parentheses and may hold spaces or parentheses, so split after the last ')'."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); ppid is field 4; utime..cstime are fields 14-17.
    ppid = int(rest[1])
    ticks = sum(int(x) for x in rest[11:15])
    return ppid, ticks / TICKS


def parse_rss(status_text: str) -> int:
    """VmRSS of /proc/<pid>/status, in bytes (0 for a kernel thread or a zombie)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            return int(value) * (1024 if unit.lower() == "kb" else 1)
    return 0


def read_proc(pid: int, root: Path = PROC) -> Proc | None:
    """One process, or None if it is gone (it may exit between the reads)."""
    base = root / str(pid)
    try:
        ppid, cpu = parse_stat((base / "stat").read_text())
        rss = parse_rss((base / "status").read_text())
        cmdline = tuple(a for a in (base / "cmdline").read_bytes().decode().split("\0") if a)
    except (OSError, ValueError, IndexError):
        return None
    return Proc(pid, ppid, cpu, rss, cmdline)


def all_procs(root: Path = PROC) -> dict[int, Proc]:
    found = {}
    for entry in root.iterdir() if root.exists() else ():
        if entry.name.isdigit() and (proc := read_proc(int(entry.name), root)) is not None:
            found[proc.pid] = proc
    return found


def service_name(cmdline: tuple[str, ...]) -> str | None:
    """`gateway` for `python -m tollgate serve gateway ...`; None for anything else."""
    for i, arg in enumerate(cmdline[:-1]):
        if arg == "serve" and i > 0 and cmdline[i - 1] == "tollgate":
            return cmdline[i + 1]
    return None


def tree(root_pid: int, procs: dict[int, Proc]) -> dict[int, str]:
    """Every process under `root_pid` (itself included), by pid, named by the service it
    belongs to."""
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    named: dict[int, str] = {}
    todo = [(root_pid, SUPERVISOR)] if root_pid in procs else []
    while todo:
        pid, inherited = todo.pop()
        name = service_name(procs[pid].cmdline) or inherited
        named[pid] = name
        todo += [(child, name) for child in children.get(pid, ())]
    return named


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds and RSS of each process under a root, with the service it serves."""

    names: dict[int, str]
    cpu_s: dict[int, float]
    rss: dict[int, int]

    @staticmethod
    def take(root_pid: int, root: Path = PROC) -> Snapshot:
        procs = all_procs(root)
        names = tree(root_pid, procs)
        return Snapshot(
            names,
            {pid: procs[pid].cpu_s for pid in names},
            {pid: procs[pid].rss_bytes for pid in names},
        )

    def cpu_since(self, before: Snapshot) -> dict[str, float]:
        """CPU seconds each service used between `before` and this snapshot. A process
        born in between counts from zero; one that died in between is lost, unless its
        parent reaped it (then it is in the parent's cutime+cstime)."""
        used: dict[str, float] = {}
        for pid, name in self.names.items():
            delta = self.cpu_s[pid] - before.cpu_s.get(pid, 0.0)
            used[name] = used.get(name, 0.0) + max(delta, 0.0)
        return used

    def rss_by_service(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for pid, name in self.names.items():
            total[name] = total.get(name, 0) + self.rss[pid]
        return total
