"""Import prices from LiteLLM's model price map (`model_prices_and_context_window.json`).

The map gives USD per token as JSON numbers, which Python reads as binary floats. Each
is turned into an exact decimal deliberately: `Decimal(repr(value))`, the shortest
decimal that reads back as the same float (for every price in the map, the digits its
authors wrote), then times 1,000,000 for a price per million tokens. So 2.5e-06 is
exactly 2.5 USD per million tokens, and 1.25e-07 exactly 0.125. A price that would
need more than 9 decimal places per million tokens (nano-units) is refused.

What is read, per entry: `input_cost_per_token`, `output_cost_per_token`,
`cache_read_input_token_cost` (cached input; absent: the input price),
`cache_creation_input_token_cost` (cache write; absent: the input price),
`input_cost_per_token_batches` and `output_cost_per_token_batches` (the model's own
batch price, both or neither; absent: Budget's default batch rule, batch_prices.py),
`max_output_tokens` or else `max_tokens`, `litellm_provider` and `mode`. Only `chat`
and `embedding` entries are imported (embeddings have no output price: 0).

Errors, chosen so that an import is all or nothing:
- a file that is not JSON, not an object of objects, or names a provider the file has
  no entries for: an error, nothing written;
- a chosen entry with a price or max tokens that is present but not a finite,
  non-negative number (a positive integer for max tokens), or finer than a nano-unit
  per million tokens: an error naming the entry and field, nothing written;
- a chosen entry with no per-token price at all (priced per image or second, say):
  skipped with a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from services.budget.prices import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    PriceInput,
    price_at,
    set_price,
    to_price,
)
from tollgate.money import MoneyError, Price, parse_amount

# tollgate's provider names and the LiteLLM providers they take prices from, first
# one first: a model named by two of them takes the earlier one's price.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    # The Gemini API's own entries, then Vertex AI's for Gemini models they lack.
    "gemini": ("gemini", "vertex_ai-language-models"),
}
DEFAULT_PROVIDERS = tuple(PROVIDERS)
MODES = ("chat", "embedding")
PER_MILLION = Decimal(1_000_000)
# The copy shipped with tollgate: LiteLLM's map cut to chat and embedding models of
# the providers tollgate talks to, and to the fields read here.
SHIPPED_MAP = "data/litellm_model_prices.json"


class PriceMapError(ValueError):
    """The price map cannot be imported; nothing was written."""


@dataclass(frozen=True)
class PriceMap:
    """The prices read for the chosen providers, one per model."""

    prices: list[PriceInput]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """A new price version: the model's price before (None: it had none) and after."""

    before: Price | None
    after: Price


def load(path: Path | None) -> Any:
    """The parsed JSON of `path`, or of the shipped copy when it is None."""
    try:
        if path is None:
            text = resources.files("tollgate").joinpath(SHIPPED_MAP).read_text()
        else:
            text = path.read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceMapError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PriceMapError(f"{path or SHIPPED_MAP} is not JSON: {exc}") from exc


def per_million(value: Any, where: str) -> Decimal:
    """USD per token (a JSON number) as exact USD per million tokens."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PriceMapError(f"{where}: {value!r} is not a number")
    exact = Decimal(repr(value)) * PER_MILLION  # repr: the shortest exact round trip
    try:
        return parse_amount(exact, where)
    except MoneyError as exc:
        raise PriceMapError(f"{exc} (per million tokens, from {value!r} per token)") from exc


def _max_tokens(entry: dict[str, Any], where: str) -> int | None:
    for name in ("max_output_tokens", "max_tokens"):
        value = entry.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise PriceMapError(f"{where}.{name}: {value!r} is not a positive integer")
        return value
    return None


def _model_name(key: str, provider: str) -> str:
    """The model as tollgate names it: `gemini/gemini-2.5-pro` is `gemini-2.5-pro`, and
    Vertex's `vertex_ai/...` drops its prefix too."""
    prefix, _, rest = key.partition("/")
    return rest if rest and prefix in (provider, provider.split("-")[0]) else key


def _entry_price(key: str, entry: dict[str, Any]) -> PriceInput | str:
    """The entry's price, or why it has none (a warning)."""
    provider, mode = entry["litellm_provider"], entry["mode"]
    model = _model_name(key, provider)
    if "input_cost_per_token" not in entry or (
        mode == "chat" and "output_cost_per_token" not in entry
    ):
        return f"{key}: skipped, it has no per-token price"

    def price(name: str) -> Decimal | None:
        value = entry.get(name)
        return None if value is None else per_million(value, f"{key}.{name}")

    input_price = price("input_cost_per_token")
    assert input_price is not None
    max_tokens = _max_tokens(entry, key)
    batch_input = price("input_cost_per_token_batches")
    batch_output = price("output_cost_per_token_batches")
    if mode == "embedding" and batch_input is not None:
        batch_output = Decimal(0)  # embeddings write nothing
    if batch_input is None or batch_output is None:  # half a batch price is none
        batch_input = batch_output = None
    return PriceInput(
        model=model,
        input=input_price,
        output=price("output_cost_per_token") or Decimal(0),
        cached_input=price("cache_read_input_token_cost"),
        currency="USD",
        # Embeddings write nothing: one output token, as in the shipped defaults.
        max_output_tokens=1 if mode == "embedding" else max_tokens,
        cache_write_input=price("cache_creation_input_token_cost"),
        batch_input=batch_input,
        batch_output=batch_output,
    )


def litellm_providers(providers: Iterable[str]) -> list[str]:
    """LiteLLM provider names for tollgate's (others are taken as LiteLLM's own)."""
    names: list[str] = []
    for provider in providers:
        for name in PROVIDERS.get(provider, (provider,)):
            if name not in names:
                names.append(name)
    return names


def read_price_map(data: Any, providers: Sequence[str] = DEFAULT_PROVIDERS) -> PriceMap:
    """The prices of the chosen providers' chat and embedding models in a parsed map."""
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PriceMapError("the price map must be a JSON object of model entries (objects)")
    found = {entry.get("litellm_provider") for entry in data.values()}
    missing = [p for p in providers if not found.intersection(litellm_providers([p]))]
    if missing:
        raise PriceMapError(f"the price map has no entries for provider {', '.join(missing)}")
    wanted = litellm_providers(providers)
    rank = {name: i for i, name in enumerate(wanted)}
    chosen = sorted(
        (
            # Earlier providers first; within one, a key without a prefix first.
            (rank[entry["litellm_provider"]], "/" in key, key)
            for key, entry in data.items()
            if entry.get("litellm_provider") in rank and entry.get("mode") in MODES
        ),
    )
    prices: dict[str, PriceInput] = {}
    warnings: list[str] = []
    for _, _, key in chosen:
        read = _entry_price(key, data[key])
        if isinstance(read, str):
            warnings.append(read)
        elif read.model not in prices:
            prices[read.model] = read
    return PriceMap(sorted(prices.values(), key=lambda p: p.model), warnings)


def _wanted(wanted: PriceInput, current: Price | None) -> Price:
    # A chat entry without max tokens keeps the current version's (or the default).
    max_output = wanted.max_output_tokens
    if max_output is None:
        max_output = current.max_output_tokens if current else DEFAULT_MAX_OUTPUT_TOKENS
    return to_price(wanted, max_output)


def import_prices(
    conn: Connection, price_map: PriceMap, now: datetime, *, dry_run: bool = False
) -> list[Change]:
    """Add a version effective `now` for each model whose price differs from the one in
    force (or has none); the same map imported twice adds nothing. Call it inside one
    transaction, so an import is whole or nothing."""
    changes: list[Change] = []
    for wanted in price_map.prices:
        current = price_at(conn, wanted.model, now)
        after = _wanted(wanted, current)
        if current == after:
            continue
        if not dry_run:
            exact = replace(wanted, max_output_tokens=after.max_output_tokens)
            after = set_price(conn, exact, effective_from=now)
        changes.append(Change(current, after))
    return changes
