"""Hostile query parameters for the gateway's reads: every parameter a route reads,
given each value of VALUES (raw query text, percent escapes included, so invalid
UTF-8 and NUL reach the server byte for byte). Each answer must be below 500, and a
4xx in OpenAI's error format."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# name -> raw (already escaped) query value
VALUES = {
    "superscript two": "%C2%B2",
    "Arabic-Indic digits": "%D9%A3%D9%A4",
    "fullwidth digits": "%EF%BC%91%EF%BC%92",
    "5,000 digits": "1" * 5000,
    "2^64": str(2**64),
    "-1": "-1",
    "0": "0",
    "1.5": "1.5",
    "1e3": "1e3",
    "empty": "",
    "NUL": "%00",
    "NUL inside": "a%00b",
    "encoded surrogate": "%ED%A0%80",
    "0xFF byte": "%FF",
    "overlong slash": "%C0%AF",
    "huge": "a" * 20_000,
    "a comma list": "a,b,,c",
}


@dataclass(frozen=True)
class Read:
    path: str  # {response} is a stored response of the prober's; {project} its name
    params: tuple[str, ...]
    credential: str  # "key", "admin", "viewer" (a project session), "operator" (a session)


READS = (
    Read("/v1/usage", ("from", "to", "period", "by", "project", "key", "user"), "key"),
    Read("/v1/responses/{response}/input_items", ("limit", "order", "after"), "key"),
    Read("/v1/files", ("limit", "order", "after", "purpose"), "key"),
    Read("/v1/batches", ("limit", "after"), "key"),
    Read("/v1/models", ("limit",), "key"),
    Read("/admin/audit", ("limit", "before_id", "project", "since", "until", "action"), "admin"),
    Read("/admin/alerts", ("limit", "project"), "admin"),
    Read("/admin/calls", ("limit", "project", "before", "key", "user"), "admin"),
    Read("/admin/reports", ("project", "from", "to", "by", "format"), "admin"),
    Read("/admin/savings", ("project", "month", "cache_hit_rate"), "admin"),
    Read("/admin/projects/{project}/bill", ("month", "format"), "admin"),
    Read("/admin/projects/{project}/whatif", ("month", "model", "cache_hit_rate"), "admin"),
    Read("/admin/budgets", ("project",), "admin"),
    Read("/admin/limits", ("project", "key_id"), "admin"),
    Read("/dashboard/api/projects/{project}/calls", ("limit",), "viewer"),
    Read("/dashboard/api/projects/{project}/calls", ("limit",), "operator"),
    Read("/dashboard/api/projects/{project}/summary", ("limit",), "operator"),
)


def hostile_reads() -> Iterator[tuple[Read, str, str]]:
    """(read, label, path with its hostile query) for every parameter and value."""
    for read in READS:
        for param in read.params:
            for name, raw in VALUES.items():
                yield read, f"{param} = {name}", f"{read.path}?{param}={raw}"
