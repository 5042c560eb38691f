"""`tollgate mock-upstream`: a local test upstream in OpenAI's, Anthropic's or Gemini's
wire format, answering with the demo model, with settable latency, token rate and
failures, so tollgate can be tried against each provider kind without a provider key."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from starlette.applications import Starlette

FORMATS = ("openai", "anthropic", "gemini")
# What to put in a tollgate provider entry for each format (`kind` and `base_url` path).
BASE_PATHS = {"openai": "/v1", "anthropic": "/v1", "gemini": "/v1beta"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="openai",
        help="the wire format to speak (default openai); the provider kind to configure",
    )
    parser.add_argument("--api-key", help="require this key (default: accept any)")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="wait before answering (a hang, if long)"
    )
    parser.add_argument(
        "--token-delay-ms", type=float, default=0.0, help="pause between streamed events"
    )
    parser.add_argument(
        "--fail-status", type=int, help="answer every call with this HTTP error status"
    )
    parser.add_argument(
        "--omit-usage", action="store_true", help="report no usage (tollgate then estimates)"
    )
    parser.add_argument(
        "--break-after-chunks",
        type=int,
        help="drop the connection after this many streamed events",
    )


def _check(args: argparse.Namespace) -> None:
    if args.fail_status is not None and not 400 <= args.fail_status <= 599:
        raise ValueError(f"--fail-status: {args.fail_status} is not an HTTP error status (400-599)")
    for name in ("latency_ms", "token_delay_ms", "break_after_chunks"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ValueError(f"--{name.replace('_', '-')}: must not be negative")


def build_app(args: argparse.Namespace) -> Starlette:
    """The mock app the arguments describe; ValueError for a bad option."""
    _check(args)
    options: dict[str, Any] = {
        "api_key": args.api_key,
        "latency_ms": args.latency_ms,
        "token_delay_ms": args.token_delay_ms,
        "fail_status": args.fail_status,
        "omit_usage": args.omit_usage,
        "break_after_chunks": args.break_after_chunks,
    }
    if args.format == "anthropic":
        from tollgate_mocks import anthropic_upstream

        return anthropic_upstream.create_app(**options)
    if args.format == "gemini":
        from tollgate_mocks import gemini_upstream

        return gemini_upstream.create_app(**options)
    from tollgate_mocks import openai_upstream

    return openai_upstream.create_app(**options)


def run(args: argparse.Namespace) -> int:
    """Needs no settings: it is a stand-in upstream, not part of the suite."""
    from tollgate_mocks import openai_upstream

    app = build_app(args)
    base_url = f"http://{args.host}:{args.port}{BASE_PATHS[args.format]}"
    print(
        f"mock {args.format} upstream at {base_url} "
        f"(a provider with kind: {args.format}, base_url: {base_url}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    openai_upstream.serve(app, args.host, args.port)
    return 0
