"""The YAML's `cache:` section: off by default, each setting checked at start-up."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tollgate.cache_config import CacheSettings
from tollgate.config import ConfigError, load_settings


def settings_of(tmp_path: Path, yaml_text: str) -> Any:
    config = tmp_path / "tollgate.yaml"
    config.write_text(yaml_text)
    return load_settings({"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_CONFIG": str(config)})


def test_the_cache_is_off_unless_enabled(tmp_path: Path) -> None:
    assert settings_of(tmp_path, "{}\n").cache == CacheSettings(enabled=False)
    assert not settings_of(tmp_path, "cache: {ttl_seconds: 5}\n").cache.enabled


def test_every_setting_is_read(tmp_path: Path) -> None:
    cache = settings_of(
        tmp_path,
        "cache: {enabled: true, ttl_seconds: 90, max_entries_per_project: 5,"
        " hit_price_fraction: 0.1}\n",
    ).cache
    assert cache == CacheSettings(True, 90.0, 5, Decimal("0.1"))
    assert settings_of(tmp_path, "cache: {enabled: true}\n").cache == CacheSettings(
        True, 3600.0, 1000, Decimal(0)
    )


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("cache: [1]", "cache: must be a mapping"),
        ("cache: {enabled: yes please}", "cache.enabled"),
        ("cache: {ttl_seconds: 0}", "cache.ttl_seconds"),
        ("cache: {ttl_seconds: .inf}", "cache.ttl_seconds"),
        ("cache: {max_entries_per_project: 0}", "cache.max_entries_per_project"),
        ("cache: {max_entries_per_project: 2.5}", "cache.max_entries_per_project"),
        ("cache: {hit_price_fraction: 1.5}", "cache.hit_price_fraction"),
        ("cache: {hit_price_fraction: -0.1}", "cache.hit_price_fraction"),
        ("cache: {hit_price_fraction: lots}", "cache.hit_price_fraction"),
        ("cache: {hit_price_fraction: NaN}", "cache.hit_price_fraction"),
        ("cache: {ttl: 5}", "unknown setting 'ttl'"),
    ],
)
def test_a_bad_setting_is_refused_by_name(tmp_path: Path, section: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_of(tmp_path, section + "\n")
