"""`tollgate price ...`: the price catalogue (set, list, import from LiteLLM's map), and
`tollgate project multiplier`, a project's markup or discount on every price; over
Budget's admin RPCs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tollgate.cli import rpc
from tollgate.cli.common import add_command
from tollgate.config import Settings
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2

# The providers `price import` reads by default (Budget's price_import.DEFAULT_PROVIDERS).
DEFAULT_PROVIDERS = ("openai", "anthropic", "gemini")


def cmd_price_set(settings: Settings, args: argparse.Namespace) -> int:
    wanted = budget_pb2.SetPriceRequest(
        model=args.model,
        input=args.input,
        output=args.output,
        cached_input=args.cached_input,
        currency=args.currency,
        max_output_tokens=args.max_output_tokens,
        cache_write_input=args.cache_write_input,
        batch_input=args.batch_input,
        batch_output=args.batch_output,
        batch_cached_input=args.batch_cached_input,
    )
    with rpc.budget(settings) as budget:
        shown = budget.SetPrice(wanted)
    print(
        f"{shown.model}: input {shown.input}, output {shown.output}, cached input "
        f"{shown.cached_input}, cache write {shown.cache_write_input}; {_batch(shown)} "
        f"{shown.currency} per million tokens, from now on"
    )
    return 0


def _batch(price: budget_pb2.PriceVersion) -> str:
    """The batch price in force, and whether it is the default rule's."""
    rule = " (default)" if price.batch_default else ""
    return (
        f"batch{rule} input {price.batch_input}, output {price.batch_output}, cached "
        f"{price.batch_cached_input}"
    )


def cmd_price_list(settings: Settings, args: argparse.Namespace) -> int:
    with rpc.budget(settings) as budget:
        listed = budget.ListPrices(budget_pb2.ListPricesRequest())
    prices = [as_dict(p) for p in listed.prices]
    if args.json:
        print(json.dumps(prices))
        return 0
    print(
        f"{'MODEL':<28} {'CUR':<4} {'INPUT':>10} {'OUTPUT':>10} {'CACHED':>10} "
        f"{'CACHE WRITE':>11} {'BATCH IN':>10} {'BATCH OUT':>10}  (per 1M tokens; "
        "* batch: the default rule)"
    )
    for p in prices:
        rule = "*" if p.get("batch_default") else ""
        print(
            f"{p['model']:<28} {p['currency']:<4} {p['input']:>10} {p['output']:>10} "
            f"{p['cached_input']:>10} {p['cache_write_input']:>11} "
            f"{p.get('batch_input', ''):>10} {p.get('batch_output', ''):>10}{rule}"
        )
    return 0


def _read(path: Path | None) -> bytes:
    """The map's bytes (Budget parses them); empty: Budget's shipped copy."""
    if path is None:
        return b""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


# The per-million-token prices of a PriceVersion, as `describe_change` names them.
PRICE_FIELDS = (
    ("input", "input"),
    ("output", "output"),
    ("cached", "cached_input"),
    ("cache write", "cache_write_input"),
    ("batch input", "batch_input"),
    ("batch output", "batch_output"),
    ("batch cached", "batch_cached_input"),
)


def describe_change(change: budget_pb2.PriceChange) -> str:
    """One line for an imported model: a new one's whole price, a changed one's fields
    that change, each old -> new."""
    after = change.after
    if not change.HasField("before"):
        return (
            f"{after.model}: input {after.input}, output {after.output}, cached "
            f"{after.cached_input}, cache write {after.cache_write_input} "
            f"{after.currency} per million tokens (new)"
        )
    before = change.before
    # A batch price that follows the default rule on both sides moves with the price.
    fields = PRICE_FIELDS[:4] if before.batch_default and after.batch_default else PRICE_FIELDS
    prices = [
        f"{label} {getattr(before, field)} -> {getattr(after, field)}"
        for label, field in fields
        if getattr(before, field) != getattr(after, field)
    ]
    parts = []
    if prices:
        parts.append(f"{', '.join(prices)} {after.currency} per million tokens")
    if before.currency != after.currency:
        parts.append(f"currency {before.currency} -> {after.currency}")
    if before.max_output_tokens != after.max_output_tokens:
        parts.append(f"max output tokens {before.max_output_tokens} -> {after.max_output_tokens}")
    return f"{after.model}: {'; '.join(parts) or 'no field differs'} (changed)"


def cmd_price_import(settings: Settings, args: argparse.Namespace) -> int:
    providers = [p.strip() for p in args.provider.split(",") if p.strip()]
    if not providers:
        raise ValueError("--provider: name at least one provider")
    wanted = budget_pb2.ImportPricesRequest(
        price_map=_read(args.file), providers=providers, dry_run=args.dry_run
    )
    with rpc.budget(settings) as budget:
        done = budget.ImportPrices(wanted)
    if args.json:
        shown = {
            "dry_run": args.dry_run,
            "added": [
                {**as_dict(c.after), "before": as_dict(c.before) if c.HasField("before") else None}
                for c in done.changes
            ],
            "unchanged": done.unchanged,
            "skipped": list(done.skipped),
        }
        print(json.dumps(shown))
        return 0
    for warning in done.skipped:
        print(f"tollgate: warning: {warning}", file=sys.stderr)
    for change in done.changes:
        print(describe_change(change))
    verb = "would add" if args.dry_run else "added"
    print(
        f"{verb} {len(done.changes)} price versions effective now; {done.unchanged} models "
        f"unchanged, {len(done.skipped)} entries skipped"
    )
    return 0


def cmd_project_multiplier(settings: Settings, args: argparse.Namespace) -> int:
    wanted = budget_pb2.SetPriceMultiplierRequest(project=args.name, multiplier=args.multiplier)
    with rpc.budget(settings) as budget:
        project = budget.SetPriceMultiplier(wanted)
    print(f"{project.name}: prices x {project.price_multiplier} for calls settled from now on")
    return 0


def register_project_commands(project: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `project multiplier` to the `project` group (declared in main)."""
    p = add_command(
        project, "multiplier", cmd_project_multiplier, "set a project's price multiplier"
    )
    p.add_argument("name")
    p.add_argument("multiplier", help="exact decimal: 1.15 marks prices up 15%%, 0.9 is 10%% off")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `price` group to the `tollgate` parser."""
    price = sub.add_parser("price", help="the price catalogue").add_subparsers(
        dest="sub", required=True
    )
    p = add_command(price, "set", cmd_price_set, "set a model's price per million tokens from now")
    p.add_argument("model")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--cached-input", help="cache reads (default: the input price)")
    p.add_argument("--cache-write-input", help="cache writes (default: the input price)")
    p.add_argument(
        "--batch-input",
        help="Batch API lines' input price, with --batch-output (default: the provider's "
        "batch discount, half the price for OpenAI, Anthropic and Gemini models)",
    )
    p.add_argument("--batch-output", help="Batch API lines' output price")
    p.add_argument(
        "--batch-cached-input", help="Batch API lines' cache reads (default: scaled like input)"
    )
    p.add_argument("--currency", help="USD or CNY (default: the model's current currency)")
    p.add_argument("--max-output-tokens", type=int)
    p = add_command(price, "list", cmd_price_list, "the prices in force now")
    p.add_argument("--json", action="store_true")
    p = add_command(
        price,
        "import",
        cmd_price_import,
        "import prices from LiteLLM's model price map; new versions only where they changed",
    )
    p.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="the map's JSON (default: tollgate's copy)",
    )
    p.add_argument(
        "--provider",
        default=",".join(DEFAULT_PROVIDERS),
        help="comma-separated: openai, anthropic, gemini, or a LiteLLM provider name "
        f"(default {','.join(DEFAULT_PROVIDERS)})",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    p.add_argument("--json", action="store_true")
