"""`tollgate price import` from LiteLLM's model price map: binary floats become exact
decimals by one deliberate rule, the provider filter, idempotent imports in one
transaction, and bad input that writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.budget.price_import import (
    PriceMapError,
    import_prices,
    load,
    per_million,
    read_price_map,
)
from services.budget.prices import price_at
from tollgate.db import make_engine, utcnow
from tollgate.db.models import PRICES
from tollgate.money import to_nano

SAMPLE = Path(__file__).parent.parent / "data" / "litellm_prices_sample.json"
DEFAULT_MODELS = {
    "gpt-4o",
    "gpt-4o-mini",
    "text-embedding-3-small",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-embedding-001",
}


def sample() -> dict[str, Any]:
    return dict(json.loads(SAMPLE.read_text()))


@pytest.mark.parametrize(
    ("per_token", "expected"),
    [
        (1.25e-07, "0.125"),
        (3e-06, "3"),
        (0.000015, "15"),
        (2.5e-06, "2.5"),
        (7.5e-08, "0.075"),
        (3.75e-06, "3.75"),
        (1e-05, "10"),
        (0.0, "0"),
        (0, "0"),
    ],
)
def test_floats_become_the_exact_decimal_per_million(per_token: float, expected: str) -> None:
    assert per_million(per_token, "x") == Decimal(expected)


def test_the_naive_conversion_would_not_be_exact() -> None:
    # Why the rule is deliberate: the float's binary value is not 0.125 per million.
    assert Decimal(1.25e-07) * 1_000_000 != Decimal("0.125")
    assert per_million(1.25e-07, "x") == Decimal("0.125")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.1 + 0.2, "more than 9 decimal places"),  # 300000.00000000004 per million
        (-1e-06, "non-negative"),
        (float("nan"), "non-negative"),
        (float("inf"), "non-negative"),
        ("3e-06", "is not a number"),
        (True, "is not a number"),
        (None, "is not a number"),
    ],
)
def test_odd_values_are_refused(value: Any, message: str) -> None:
    with pytest.raises(PriceMapError, match=message):
        per_million(value, "m.input_cost_per_token")


def test_the_default_providers_read_chat_and_embedding_models() -> None:
    read = read_price_map(sample())
    prices = {p.model: p for p in read.prices}
    assert set(prices) == DEFAULT_MODELS  # no image models, no azure, no deepseek
    assert read.warnings == ["medlm-large: skipped, it has no per-token price"]
    sonnet = prices["claude-sonnet-4-5"]
    assert (sonnet.input, sonnet.output, sonnet.cached_input, sonnet.cache_write_input) == (
        Decimal(3),
        Decimal(15),
        Decimal("0.3"),
        Decimal("3.75"),
    )
    assert sonnet.max_output_tokens == 64000 and sonnet.currency == "USD"
    # The Gemini API's entry (gemini/...) wins over Vertex AI's for the same model.
    assert prices["gemini-2.5-pro"].max_output_tokens == 65536
    assert prices["gemini-2.5-pro"].cached_input == Decimal("0.125")
    embedding = prices["text-embedding-3-small"]
    assert (embedding.input, embedding.output, embedding.max_output_tokens) == (
        Decimal("0.02"),
        0,
        1,
    )
    assert prices["gpt-4o"].cache_write_input is None  # none listed: the input price


def test_the_provider_filter() -> None:
    only = read_price_map(sample(), ["anthropic"])
    assert {p.model for p in only.prices} == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    # Any LiteLLM provider name works; an unprefixed key wins over a prefixed one.
    (deepseek,) = read_price_map(sample(), ["deepseek"]).prices
    assert deepseek.model == "deepseek-chat" and deepseek.cache_write_input is None
    with pytest.raises(PriceMapError, match="no entries for provider nobody"):
        read_price_map(sample(), ["openai", "nobody"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "JSON object of model entries"),
        ({"gpt-4o": "cheap"}, "JSON object of model entries"),
        (
            {
                "m": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "input_cost_per_token": "1e-06",
                    "output_cost_per_token": 1e-06,
                }
            },
            "m.input_cost_per_token: '1e-06' is not a number",
        ),
        (
            {
                "m": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "input_cost_per_token": 1e-06,
                    "output_cost_per_token": 1e-06,
                    "max_output_tokens": -5,
                }
            },
            "m.max_output_tokens: -5 is not a positive integer",
        ),
    ],
)
def test_malformed_maps_are_refused(data: Any, message: str) -> None:
    with pytest.raises(PriceMapError, match=message):
        read_price_map(data, ["openai"])


def count_prices(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PRICES)).scalar_one())


def test_importing_adds_versions_only_for_changed_prices(db_url: str) -> None:
    engine = make_engine(db_url)
    first_at = utcnow() - timedelta(minutes=5)
    with engine.begin() as conn:
        added = import_prices(conn, read_price_map(sample()), first_at)
    assert {c.after.model for c in added} == DEFAULT_MODELS
    assert all(c.before is None for c in added)
    with engine.begin() as conn:  # the same map again adds nothing
        assert import_prices(conn, read_price_map(sample()), utcnow()) == []
    assert count_prices(engine) == len(DEFAULT_MODELS)

    changed = sample()
    changed["gpt-4o"]["input_cost_per_token"] = 3e-06
    changed["claude-haiku-4-5"]["max_output_tokens"] = 32000
    second_at = utcnow()
    with engine.begin() as conn:
        again = import_prices(conn, read_price_map(changed), second_at)
    assert [(c.after.model, c.before is not None) for c in again] == [
        ("claude-haiku-4-5", True),
        ("gpt-4o", True),
    ]
    with engine.connect() as conn:
        old = price_at(conn, "gpt-4o", second_at - timedelta(seconds=1))
        new = price_at(conn, "gpt-4o", second_at)
    assert old is not None and old.input_nano == to_nano("2.5")  # old bills keep theirs
    assert new is not None and new.input_nano == to_nano("3")


def test_a_dry_run_writes_nothing(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        would = import_prices(conn, read_price_map(sample()), utcnow(), dry_run=True)
    assert len(would) == len(DEFAULT_MODELS) and count_prices(engine) == 0


def test_the_shipped_map_keeps_the_files_own_digits() -> None:
    """The repr rule gives, for every price in the shipped map, exactly the decimal
    written in the file (read here as text, with no float in between)."""
    text = resources.files("tollgate").joinpath("data/litellm_model_prices.json").read_text()
    as_written = json.loads(text, parse_float=Decimal)
    as_floats = json.loads(text)
    fields = (
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
    )
    checked = 0
    for key, entry in as_floats.items():
        for name in fields:
            if name in entry:
                assert per_million(entry[name], key) == as_written[key][name] * 1_000_000
                checked += 1
    assert checked > 500
    shipped = read_price_map(load(None))
    assert {"gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro"} <= {p.model for p in shipped.prices}


# --- the command ------------------------------------------------------------------------

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The CLI runs against the shared `services` (tests/conftest.py) on SQLite."""
    return sqlite_url


@pytest.fixture
def tollgate(cli, monkeypatch):  # type: ignore[no-untyped-def]
    """`cli`, whose services hold a project `acme` already."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return cli


def versions(tollgate: Run, home: Path) -> int:
    """Price versions (rows, not models) in the command's database."""
    assert tollgate("price", "list")[0] == 0  # creates and seeds the database if new
    engine = make_engine(f"sqlite:///{home / 'tollgate.db'}")
    try:
        return count_prices(engine)
    finally:
        engine.dispose()


def test_import_command_json_dry_run_and_idempotence(tollgate: Run, tmp_path: Path) -> None:
    code, out, err = tollgate(
        "price", "import", str(SAMPLE), "--provider", "anthropic", "--dry-run"
    )
    assert code == 0 and "would add 0 price versions" in out  # the shipped defaults match
    changed = sample()
    changed["claude-sonnet-4-5"]["cache_creation_input_token_cost"] = 6e-06  # 1-hour cache
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))
    code, out, _ = tollgate("price", "import", str(path), "--provider", "anthropic", "--dry-run")
    assert code == 0 and "would add 1 price versions" in out
    code, out, _ = tollgate("price", "list", "--json")
    listed = {p["model"]: p for p in json.loads(out)}
    assert listed["claude-sonnet-4-5"]["cache_write_input"] == "3.75"  # dry run: unchanged
    code, out, _ = tollgate("price", "import", str(path), "--provider", "anthropic", "--json")
    shown = json.loads(out)
    (added,) = shown["added"]
    assert (added["model"], added["cache_write_input"]) == ("claude-sonnet-4-5", "6.00")
    assert added["before"]["cache_write_input"] == "3.75" and not shown["dry_run"]
    code, out, _ = tollgate("price", "import", str(path), "--provider", "anthropic", "--json")
    assert json.loads(out)["added"] == []


def test_a_dry_run_shows_what_changes_for_each_changed_model(tollgate: Run, tmp_path: Path) -> None:
    changed = sample()
    changed["claude-sonnet-4-5"]["cache_creation_input_token_cost"] = 6e-06
    changed["claude-sonnet-4-5"]["output_cost_per_token"] = 1.6e-05
    changed["claude-haiku-4-5"]["max_output_tokens"] = 32000
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))
    code, out, _ = tollgate("price", "import", str(path), "--provider", "anthropic", "--dry-run")
    assert code == 0, out
    lines = out.splitlines()
    assert (
        "claude-sonnet-4-5: output 15.00 -> 16.00, cache write 3.75 -> 6.00 USD per million "
        "tokens (changed)"
    ) in lines
    haiku = next(line for line in lines if line.startswith("claude-haiku-4-5:"))
    assert haiku.endswith("-> 32000 (changed)") and "max output tokens" in haiku, haiku


def test_import_command_defaults_to_the_shipped_map(tollgate: Run, tmp_path: Path) -> None:
    code, out, err = tollgate("price", "import")
    assert code == 0 and "added" in out and "warning: medlm-large: skipped" in err, err
    before = versions(tollgate, tmp_path)
    code, out, _ = tollgate("price", "import", "--json")
    assert code == 0 and json.loads(out)["added"] == [] and versions(tollgate, tmp_path) == before


@pytest.mark.parametrize(
    ("content", "provider", "message"),
    [
        ("{not json", "openai", "is not JSON"),
        ("[]", "openai", "JSON object of model entries"),
        (None, "openai,nobody", "no entries for provider nobody"),
        (None, " , ", "name at least one provider"),
    ],
)
def test_bad_imports_exit_2_and_write_nothing(
    tollgate: Run, tmp_path: Path, content: str | None, provider: str, message: str
) -> None:
    before = versions(tollgate, tmp_path)
    path = SAMPLE
    if content is not None:
        path = tmp_path / "bad.json"
        path.write_text(content)
    code, _, err = tollgate("price", "import", str(path), "--provider", provider)
    assert code == 2 and message in err and "Traceback" not in err
    assert versions(tollgate, tmp_path) == before


def test_one_bad_entry_stops_the_whole_import(tollgate: Run, tmp_path: Path) -> None:
    bad = sample()
    bad["gpt-4o"]["input_cost_per_token"] = 9e-06  # would be a new version...
    bad["gpt-4o-mini"]["output_cost_per_token"] = 1e-17  # ...but this is finer than a nano
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    before = versions(tollgate, tmp_path)
    code, _, err = tollgate("price", "import", str(path))
    assert code == 2 and "gpt-4o-mini.output_cost_per_token" in err
    assert versions(tollgate, tmp_path) == before
    _, out, _ = tollgate("price", "list", "--json")
    assert {p["model"]: p for p in json.loads(out)}["gpt-4o"]["input"] == "2.50"


def test_project_multiplier_command(tollgate: Run) -> None:
    assert tollgate("project", "create", "resale")[0] == 0
    code, out, _ = tollgate("project", "multiplier", "resale", "1.15")
    assert code == 0 and "x 1.15" in out
    code, out, _ = tollgate("project", "list")
    assert "MULTIPLIER" in out and "1.15" in out
    code, _, err = tollgate("project", "multiplier", "resale", "0.1234567891")
    assert code == 2 and "more than 9 decimal places" in err
    code, _, err = tollgate("project", "multiplier", "nobody", "2")
    assert code == 2 and "no project named" in err
    code, out, _ = tollgate("project", "list", "--json")
    assert {p["name"]: p for p in json.loads(out)}["resale"]["price_multiplier"] == "1.15"
