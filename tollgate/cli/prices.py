"""`tollgate price ...`: the price catalogue (set, list, import from LiteLLM's map), and
`tollgate project multiplier`, a project's markup or discount on every price."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tollgate import admin
from tollgate.cli.common import add_command, engine_for
from tollgate.config import Settings
from tollgate.db import utcnow


def cmd_price_set(settings: Settings, args: argparse.Namespace) -> int:
    from services.budget.prices import PriceInput, describe, set_price

    with engine_for(settings).begin() as conn:
        price = set_price(
            conn,
            PriceInput(
                model=args.model,
                input=args.input,
                output=args.output,
                cached_input=args.cached_input,
                currency=args.currency,
                max_output_tokens=args.max_output_tokens,
                cache_write_input=args.cache_write_input,
            ),
        )
    shown = describe(price)
    print(
        f"{shown['model']}: input {shown['input']}, output {shown['output']}, cached input "
        f"{shown['cached_input']}, cache write {shown['cache_write_input']} "
        f"{shown['currency']} per million tokens, from now on"
    )
    return 0


def cmd_price_list(settings: Settings, args: argparse.Namespace) -> int:
    from services.budget.prices import current_prices, describe

    with engine_for(settings).connect() as conn:
        prices = [describe(p) for p in current_prices(conn)]
    if args.json:
        print(json.dumps(prices))
        return 0
    print(
        f"{'MODEL':<28} {'CUR':<4} {'INPUT':>10} {'OUTPUT':>10} {'CACHED':>10} "
        f"{'CACHE WRITE':>11}  (per 1M tokens)"
    )
    for p in prices:
        print(
            f"{p['model']:<28} {p['currency']:<4} {p['input']:>10} {p['output']:>10} "
            f"{p['cached_input']:>10} {p['cache_write_input']:>11}"
        )
    return 0


def cmd_price_import(settings: Settings, args: argparse.Namespace) -> int:
    from services.budget import price_import
    from services.budget.prices import describe

    providers = [p.strip() for p in args.provider.split(",") if p.strip()]
    if not providers:
        raise ValueError("--provider: name at least one provider")
    price_map = price_import.read_price_map(price_import.load(args.file), providers)
    engine = engine_for(settings)
    with engine.begin() as conn:  # one transaction: the whole import or nothing
        changes = price_import.import_prices(conn, price_map, utcnow(), dry_run=args.dry_run)
    unchanged = len(price_map.prices) - len(changes)
    if args.json:
        shown = {
            "dry_run": args.dry_run,
            "added": [
                {**describe(c.after), "before": describe(c.before) if c.before else None}
                for c in changes
            ],
            "unchanged": unchanged,
            "skipped": price_map.warnings,
        }
        print(json.dumps(shown))
        return 0
    for warning in price_map.warnings:
        print(f"tollgate: warning: {warning}", file=sys.stderr)
    for change in changes:
        after = describe(change.after)
        was = "new" if change.before is None else "changed"
        print(
            f"{after['model']}: input {after['input']}, output {after['output']}, cached "
            f"{after['cached_input']}, cache write {after['cache_write_input']} "
            f"{after['currency']} per million tokens ({was})"
        )
    verb = "would add" if args.dry_run else "added"
    print(
        f"{verb} {len(changes)} price versions effective now; {unchanged} models unchanged, "
        f"{len(price_map.warnings)} entries skipped"
    )
    return 0


def cmd_project_multiplier(settings: Settings, args: argparse.Namespace) -> int:
    project = admin.set_price_multiplier(engine_for(settings), args.name, args.multiplier)
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
    from services.budget.price_import import DEFAULT_PROVIDERS

    price = sub.add_parser("price", help="the price catalogue").add_subparsers(
        dest="sub", required=True
    )
    p = add_command(price, "set", cmd_price_set, "set a model's price per million tokens from now")
    p.add_argument("model")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--cached-input", help="cache reads (default: the input price)")
    p.add_argument("--cache-write-input", help="cache writes (default: the input price)")
    p.add_argument("--currency", default="USD")
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
