"""The Batch API's settings (docs/batches.md), read from the environment by the gateway
(file and batch caps) and the router (the runner's pace and leases)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tollgate.settings.model import ConfigError

DEFAULT_FILE_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_LINES = 50_000
# OpenAI's only completion window, and the hold a line keeps past it (its last call may
# start just before the window ends and run for a while).
COMPLETION_WINDOWS = {"24h": 24 * 3600}
HOLD_MARGIN_SECONDS = 3600


@dataclass(frozen=True)
class BatchSettings:
    # The largest file an upload may be (TOLLGATE_FILE_MAX_BYTES).
    file_max_bytes: int = DEFAULT_FILE_MAX_BYTES
    # The most requests one batch may hold (TOLLGATE_BATCH_MAX_LINES).
    max_lines: int = DEFAULT_MAX_LINES
    # Lines one router runs at once (TOLLGATE_BATCH_CONCURRENCY); batches are background
    # work, kept small beside interactive calls.
    concurrency: int = 4
    # How often an idle runner looks for work (TOLLGATE_BATCH_POLL_SECONDS).
    poll_seconds: float = 1.0
    # How long a claimed line is a runner's without a renewal (TOLLGATE_BATCH_LEASE_SECONDS):
    # a runner renews its leases every third of it; a dead runner's lines run again after it.
    lease_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BatchSettings:
        env = os.environ if env is None else env
        return cls(
            file_max_bytes=_number(env, "TOLLGATE_FILE_MAX_BYTES", DEFAULT_FILE_MAX_BYTES, int),
            max_lines=_number(env, "TOLLGATE_BATCH_MAX_LINES", DEFAULT_MAX_LINES, int),
            concurrency=_number(env, "TOLLGATE_BATCH_CONCURRENCY", 4, int),
            poll_seconds=_number(env, "TOLLGATE_BATCH_POLL_SECONDS", 1.0, float),
            lease_seconds=max(_number(env, "TOLLGATE_BATCH_LEASE_SECONDS", 60.0, float), 1.0),
        )


def _number(env: Mapping[str, str], name: str, default: Any, kind: type) -> Any:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a number") from None
    if number <= 0:
        raise ConfigError(f"{name}: {value!r} must be greater than 0")
    return number
