"""The YAML's `cache:` section: the router's exact-repeat response cache.

    cache: {enabled: true, ttl_seconds: 3600, max_entries_per_project: 1000,
            hit_price_fraction: "0"}

Off unless `enabled`. A hit is billed at `hit_price_fraction` of the answer's price
(a decimal from 0 to 1; 0, the default, makes hits free). Checked here, at start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


class CacheConfigError(ValueError):
    """A bad `cache:` setting (config.py re-raises it as ConfigError)."""


@dataclass(frozen=True)
class CacheSettings:
    enabled: bool = False
    ttl_seconds: float = 3600.0
    max_entries_per_project: int = 1000
    hit_price_fraction: Decimal = Decimal(0)


KNOWN = ("enabled", "ttl_seconds", "max_entries_per_project", "hit_price_fraction")


def parse_cache(value: Any) -> CacheSettings:
    if value is None:
        return CacheSettings()
    if not isinstance(value, dict):
        raise CacheConfigError("cache: must be a mapping")
    unknown = sorted(set(map(str, value)) - set(KNOWN))
    if unknown:
        raise CacheConfigError(f"cache: unknown setting {unknown[0]!r} (known: {', '.join(KNOWN)})")
    defaults = CacheSettings()
    enabled = value.get("enabled", defaults.enabled)
    if not isinstance(enabled, bool):
        raise CacheConfigError("cache.enabled: true or false")
    return CacheSettings(
        enabled=enabled,
        ttl_seconds=_ttl(value.get("ttl_seconds", defaults.ttl_seconds)),
        max_entries_per_project=_entries(
            value.get("max_entries_per_project", defaults.max_entries_per_project)
        ),
        hit_price_fraction=_fraction(value.get("hit_price_fraction", defaults.hit_price_fraction)),
    )


def _ttl(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CacheConfigError(f"cache.ttl_seconds: {value!r} is not a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise CacheConfigError(f"cache.ttl_seconds: {value!r} must be a finite number > 0")
    return float(value)


def _entries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CacheConfigError(
            f"cache.max_entries_per_project: {value!r} must be a whole number >= 1"
        )
    return value


def _fraction(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise CacheConfigError(f"cache.hit_price_fraction: {value!r} is not a decimal number")
    try:
        # str() first: a YAML float such as 0.1 must become Decimal("0.1"), not its binary value.
        fraction = Decimal(str(value))
    except InvalidOperation:
        raise CacheConfigError(
            f"cache.hit_price_fraction: {value!r} is not a decimal number"
        ) from None
    if not fraction.is_finite() or not 0 <= fraction <= 1:
        raise CacheConfigError(f"cache.hit_price_fraction: {value!r} must be from 0 to 1")
    return fraction
