"""`tollgate policy ...`: which models a project or key may call, and the levers that
spend less (docs/routing.md, "The right model for the work"); over Budget's admin RPCs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from google.protobuf import struct_pb2

from tollgate.cli import rpc
from tollgate.cli.common import add_command
from tollgate.config import Settings
from tollgate.protodict import as_dict
from tollgate.v1 import budget_pb2

# CLI option -> policy field (ProjectPolicy / KeyPolicy in budget.proto).
PROJECT_OPTIONS = {
    "allow": "allowed_models",
    "prefer": "preferred_models",
    "max_tokens": "max_tokens",
    "max_prompt_tokens": "max_prompt_tokens",
    "compact": "compact",
    "priority": "priority",
    "downgrade_at": "downgrade_at_percent",
    "downgrade_on_forecast": "downgrade_on_forecast",
}
KEY_OPTIONS = {"allow": "allowed_models", "priority": "priority"}


def _given(args: argparse.Namespace, options: dict[str, str]) -> dict[str, struct_pb2.Value]:
    return {
        field: struct_pb2.Value(string_value=getattr(args, option))
        for option, field in options.items()
        if getattr(args, option, None) is not None
    }


def _shown(shown: dict[str, Any]) -> str:
    lines = []
    for name, value in shown.items():
        if isinstance(value, list):
            value = ",".join(value) or "-"
        elif value is None:
            value = "-"
        elif isinstance(value, bool):
            value = "on" if value else "off"
        lines.append(f"  {name:<22} {value}")
    return "\n".join(lines)


def cmd_set(settings: Settings, args: argparse.Namespace) -> int:
    if (args.project is None) == (args.key is None):
        raise ValueError("name either --project or --key")
    with rpc.budget(settings) as budget:
        if args.key is not None:
            extra = sorted(set(_given(args, PROJECT_OPTIONS)) - set(KEY_OPTIONS.values()))
            if extra:
                raise ValueError(f"a key policy has no {extra[0]!r}; use --project")
            key_info = budget.SetKeyPolicy(
                budget_pb2.SetKeyPolicyRequest(key_id=args.key, fields=_given(args, KEY_OPTIONS))
            )
            print(f"policy of key {key_info.key_id}:\n{_shown(as_dict(key_info))}")
        else:
            info = budget.SetProjectPolicy(
                budget_pb2.SetProjectPolicyRequest(
                    project=args.project, fields=_given(args, PROJECT_OPTIONS)
                )
            )
            print(f"policy of project {info.project}:\n{_shown(as_dict(info))}")
    print("gateways apply the change within a second")
    return 0


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    with rpc.budget(settings) as budget:
        if args.key is not None:
            shown = as_dict(budget.GetKeyPolicy(budget_pb2.KeyRef(key_id=args.key)))
        elif args.project is not None:
            shown = as_dict(budget.GetProjectPolicy(budget_pb2.ProjectRef(project=args.project)))
        else:
            raise ValueError("name --project or --key")
    if args.json:
        print(json.dumps(shown))
    else:
        owner = f"key {args.key}" if args.key else f"project {args.project}"
        print(f"policy of {owner}:\n{_shown(shown)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this topic's commands to the `tollgate` parser."""
    policy = sub.add_parser("policy", help="model policies of projects and keys").add_subparsers(
        dest="sub", required=True
    )
    p = add_command(policy, "set", cmd_set, "set a project's or key's model policy")
    p.add_argument("--project")
    p.add_argument("--key", metavar="KEY_ID")
    p.add_argument("--allow", metavar="M1,M2", help="models it may call ('' : any)")
    p.add_argument(
        "--prefer", metavar="M1,M2", help="served in order when the asked is not allowed"
    )
    p.add_argument("--max-tokens", metavar="N", help="cap on max_tokens ('none': no cap)")
    p.add_argument("--max-prompt-tokens", metavar="N", help="cap on prompt tokens ('none')")
    p.add_argument("--compact", choices=("on", "off"), help="prompt compaction")
    p.add_argument("--priority", choices=("low", "medium", "high"), help="default priority")
    p.add_argument("--downgrade-at", metavar="PERCENT", help="of a hard budget ('none': never)")
    p.add_argument("--downgrade-on-forecast", choices=("on", "off"))
    p = add_command(policy, "show", cmd_show, "show a project's or key's model policy")
    p.add_argument("--project")
    p.add_argument("--key", metavar="KEY_ID")
    p.add_argument("--json", action="store_true")
