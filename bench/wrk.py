"""The external load generator: wrk (`apt-get install -y wrk`), when it is installed.

wrk is C and costs a fraction of the CPU the Python load generator costs, so on a small
machine the figures are the suite's, not the client's. The bench writes a Lua script
to its temporary home that POSTs the fixed body with the target's headers, and whose
`done()` prints one line, `WRK_JSON {...}`: the completed requests, the duration, the
error counts (`status` is wrk's "Non-2xx or 3xx responses": any status above 399) and
the latency distribution as 999 quantiles (0.1 % to 99.9 %), in microseconds. Latency
is to the end of the response (a stream's last chunk), as in the Python generator.
Concurrency c is `-t1 -cC`: one wrk thread easily drives what two cores can serve.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from loadgen import Sample, Target
from suite import BenchError

MARK = "WRK_JSON "
QUANTILES = [i / 10 for i in range(1, 1000)]  # percent

LUA_DONE = """
done = function(summary, latency, requests)
  local q = {}
  for i = 1, 999 do q[i] = string.format("%.1f", latency:percentile(i / 10)) end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"quantiles_us":[%s]}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(q, ",")))
end
"""


def find_wrk() -> str | None:
    return shutil.which("wrk")


def lua_string(text: str) -> str:
    """`text` as a Lua string literal (every byte outside printable ASCII escaped)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '"\\' or not 32 <= byte < 127:
            out.append(f"\\{byte:03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def lua_script(body_file: Path, headers: dict[str, str]) -> str:
    lines = [
        'wrk.method = "POST"',
        f"local f = assert(io.open({lua_string(str(body_file))}, 'rb'))",
        "wrk.body = f:read('*a')",
        "f:close()",
    ]
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n" + LUA_DONE


def command(wrk: str, script: Path, url: str, concurrency: int, seconds: float) -> list[str]:
    duration = f"{max(round(seconds), 1)}s"  # wrk takes whole seconds only
    argv = [wrk, "-t1", f"-c{concurrency}", f"-d{duration}", "--timeout", "30s", "-s", str(script)]
    return [*argv, url]


def parse(output: str) -> Sample:
    """The Sample a wrk run's output describes: its quantiles, each weighing
    requests/999, stand in for the latencies. Raises ValueError without a WRK_JSON line."""
    line = next((x for x in output.splitlines() if x.startswith(MARK)), None)
    if line is None:
        raise ValueError(f"no {MARK.strip()} line in wrk's output:\n{output[-2000:]}")
    data = json.loads(line[len(MARK) :])
    requests = int(data["requests"])
    status = int(data["status"])
    sockets = sum(int(data[k]) for k in ("connect", "read", "write", "timeout"))
    ok = max(requests - status, 0)
    sample = Sample(seconds=int(data["duration_us"]) / 1e6, counted=ok)
    if ok:
        weight = ok / len(data["quantiles_us"])
        sample.weighted = [(float(us) / 1000, weight) for us in data["quantiles_us"]]
    if status:
        sample.errors += status
        sample.error_examples.append(f"{status} responses with a status above 399 (wrk)")
    if sockets:
        sample.errors += sockets
        counts = {k: data[k] for k in ("connect", "read", "write", "timeout") if data[k]}
        sample.error_examples.append(f"socket errors (wrk): {counts}")
    return sample


def run(
    wrk: str, workdir: Path, target: Target, body: bytes, concurrency: int, seconds: float
) -> Sample:
    """One wrk run against `target`; its script and body go to `workdir`."""
    body_file = workdir / "wrk-body.json"
    body_file.write_bytes(body)
    script = workdir / f"wrk-{target.name}.lua"
    script.write_text(lua_script(body_file, target.headers))
    argv = command(wrk, script, target.url, concurrency, seconds)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchError(
            f"wrk exited with {done.returncode}: {(done.stderr or done.stdout)[-2000:]}"
        )
    return parse(done.stdout)
