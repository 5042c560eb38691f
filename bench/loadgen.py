"""The load generator: concurrent workers sending one fixed chat request and timing it.

Latency is wall time from sending the request to the last byte of the answer (for
streams too), measured in the client, so it includes the client's own overhead; the
gateway's *added* latency is the difference between two targets measured the same way.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field

import httpx

MAX_ERROR_EXAMPLES = 5


@dataclass(frozen=True)
class Target:
    name: str
    url: str  # the full .../chat/completions URL
    headers: dict[str, str]


@dataclass
class Sample:
    """What one or more timed runs against one target saw."""

    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    warmed: int = 0  # successful warm-up requests, not timed
    # From an external load generator, which reports a distribution, not each latency:
    # (latency, weight) points standing for `counted` successful timed requests.
    weighted: list[tuple[float, float]] = field(default_factory=list)
    counted: int = 0

    def add(self, other: Sample) -> None:
        self.latencies_ms += other.latencies_ms
        self.weighted += other.weighted
        self.counted += other.counted
        self.seconds += other.seconds
        self.errors += other.errors
        self.warmed += other.warmed
        for example in other.error_examples:
            self._keep_example(example)

    def as_warmup(self) -> Sample:
        """This sample's errors and count, without its timings."""
        return Sample(errors=self.errors, error_examples=self.error_examples, warmed=self.ok)

    @property
    def timed(self) -> int:
        return len(self.latencies_ms) + self.counted

    @property
    def ok(self) -> int:
        return self.timed + self.warmed

    def note_error(self, message: str) -> None:
        self.errors += 1
        self._keep_example(message)

    def _keep_example(self, message: str) -> None:
        if message not in self.error_examples and len(self.error_examples) < MAX_ERROR_EXAMPLES:
            self.error_examples.append(message)


@dataclass(frozen=True)
class Stats:
    requests: int
    errors: int
    rps: float
    p50: float
    p90: float
    p99: float

    @staticmethod
    def of(sample: Sample) -> Stats:
        lat = sample.latencies_ms
        n = sample.timed
        rps = n / sample.seconds if sample.seconds else 0.0
        if sample.weighted:
            points = sample.weighted + [(x, 1.0) for x in lat]
            p50, p90, p99 = (weighted_quantile(points, q) for q in (0.50, 0.90, 0.99))
            return Stats(n, sample.errors, rps, p50, p90, p99)
        if len(lat) < 2:
            only = lat[0] if lat else float("nan")
            return Stats(len(lat), sample.errors, 0.0, only, only, only)
        cuts = statistics.quantiles(lat, n=100, method="inclusive")
        return Stats(len(lat), sample.errors, rps, cuts[49], cuts[89], cuts[98])


def weighted_quantile(points: list[tuple[float, float]], q: float) -> float:
    """The smallest value whose cumulative weight reaches `q` of the total: several
    runs' distributions (each as weighted quantile points) merged into one."""
    ordered = sorted(points)
    total = sum(w for _, w in ordered)
    seen = 0.0
    for value, weight in ordered:
        seen += weight
        if seen >= q * total - 1e-9:
            return value
    return ordered[-1][0] if ordered else float("nan")


def chat_body(model: str, stream: bool) -> bytes:
    """The fixed, small request every target gets."""
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello in five words."},
        ],
        "max_tokens": 16,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def make_clients(concurrency: int) -> list[httpx.AsyncClient]:
    """One keep-alive connection per worker, each in a client of its own: a single
    client's pool shared by 32 workers costs the bench ~2.5 ms of CPU a request
    (httpcore scans its pool per request), five times what the requests cost."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # trust_env=False: a proxy from the environment must never sit between bench and target.
    return [
        httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False) for _ in range(concurrency)
    ]


async def _one(client: httpx.AsyncClient, target: Target, body: bytes, stream: bool) -> str | None:
    """Send one request; None when it succeeded, else what went wrong."""
    if not stream:
        reply = await client.post(target.url, content=body, headers=target.headers)
        if reply.status_code != 200:
            return f"HTTP {reply.status_code}: {reply.text[:200]}"
        return None
    async with client.stream("POST", target.url, content=body, headers=target.headers) as reply:
        tail = b""
        async for chunk in reply.aiter_raw():
            tail = (tail + chunk)[-64:]
        if reply.status_code != 200:
            return f"HTTP {reply.status_code}: {tail.decode(errors='replace')}"
        if b"data: [DONE]" not in tail:
            return f"stream ended without [DONE]: ...{tail.decode(errors='replace')}"
    return None


async def run_load(
    clients: list[httpx.AsyncClient],
    target: Target,
    body: bytes,
    *,
    stream: bool,
    requests: int | None = None,
    seconds: float | None = None,
) -> Sample:
    """Run one worker per client until `requests` were sent or `seconds` passed."""
    sample = Sample()
    left = requests if requests is not None else -1
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else float("inf")

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal left
        while left != 0 and time.perf_counter() < deadline:
            left -= 1
            t0 = time.perf_counter()
            try:
                error = await _one(client, target, body, stream)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                sample.latencies_ms.append((time.perf_counter() - t0) * 1000)
            else:
                sample.note_error(error)

    await asyncio.gather(*(worker(client) for client in clients))
    sample.seconds = time.perf_counter() - started
    return sample
