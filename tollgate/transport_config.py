"""A provider's outbound line: an optional proxy and its connect and read timeouts.

Users often reach overseas APIs through a dedicated line (`proxy: http://...` or
`socks5://...`). A proxy URL may carry a password, so it never appears in `repr()`
and errors name only its scheme and host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class TransportConfigError(ValueError):
    """A bad proxy or timeout (config.py re-raises it as ConfigError)."""


@dataclass(frozen=True)
class Transport:
    proxy: str = field(default="", repr=False)
    connect_timeout_seconds: float | None = None  # None: min(10 s, timeout_seconds)
    read_timeout_seconds: float | None = None  # None: timeout_seconds


def _seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TransportConfigError(f"{where}: {value!r} is not a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise TransportConfigError(f"{where}: {value!r} must be a finite number > 0")
    return float(value)


def parse_transport(item: dict[str, Any], where: str) -> Transport:
    """`proxy`, `connect_timeout_seconds` and `read_timeout_seconds` of one provider."""
    proxy = item.get("proxy") or ""
    if not isinstance(proxy, str):
        raise TransportConfigError(f"{where}.proxy: must be a URL such as http://host:3128")
    if proxy:
        try:
            parts = urlsplit(proxy)
            host = parts.hostname
        except ValueError:
            raise TransportConfigError(f"{where}.proxy: not a URL") from None
        if parts.scheme not in PROXY_SCHEMES or not host:
            raise TransportConfigError(
                f"{where}.proxy: {parts.scheme or '?'}://{host or '?'} is not a "
                f"proxy URL ({', '.join(s + '://host:port' for s in PROXY_SCHEMES)})"
            )
    return Transport(
        proxy=proxy,
        connect_timeout_seconds=_seconds(
            item.get("connect_timeout_seconds"), f"{where}.connect_timeout_seconds"
        ),
        read_timeout_seconds=_seconds(
            item.get("read_timeout_seconds"), f"{where}.read_timeout_seconds"
        ),
    )
